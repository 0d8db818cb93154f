// The composer: drafts belong to their room and survive a reload; on a touch device Enter breaks
// the line and Send sends; the length is counted as the server counts it; the box keeps its size.
import { expect, test } from "bun:test";
import { join, online, openPage, pageErrors, say, serve, stored, useBrowser, waitText } from "./browser";

useBrowser();

const NO_LIMIT = { CHAT_RATE_LIMIT: "0" };

test("drafts stay in their room and survive a reload", async () => {
  const server = await serve({ env: NO_LIMIT });
  const page = await openPage();
  await join(page, server.base, "ada", "roomA");
  const box = page.getByLabel("Message", { exact: true });
  await box.fill("half a thought for A");
  await page.getByLabel("Open a room").fill("lobby");
  await page.getByRole("button", { name: "Open" }).click();
  await online(page);
  expect(await box.inputValue()).toBe(""); // A's draft did not follow
  await box.fill("lobby draft");

  await page.reload();
  await online(page);
  expect(await box.inputValue()).toBe("lobby draft");
  // Focus is in the composer after a reload (a desktop: no keyboard to pop up).
  expect(await page.evaluate(() => document.activeElement?.id)).toBe("text");
  await page.locator('#rooms a[data-room="roomA"]').click();
  await page.waitForURL(/room=roomA$/);
  expect(await box.inputValue()).toBe("half a thought for A");
  expect(await page.evaluate(() => document.activeElement?.id)).toBe("text");

  // Sending clears the room's draft, also for the next reload.
  await box.press("Enter");
  await waitText(page, "half a thought for A");
  await page.reload();
  await online(page);
  expect(await box.inputValue()).toBe("");
  expect(pageErrors).toEqual([]);
}, 60_000);

test("on a touch device Enter breaks the line and the Send button sends", async () => {
  const server = await serve({ env: NO_LIMIT });
  // A touch device with a desktop-wide screen: the device decides, not the width.
  const page = await openPage({ viewport: { width: 1024, height: 768 }, hasTouch: true, isMobile: true });
  await join(page, server.base, "ada");
  await page.locator("#text").tap();
  await page.keyboard.type("line one");
  await page.keyboard.press("Enter");
  await page.keyboard.type("line two");
  expect(await page.inputValue("#text")).toBe("line one\nline two");
  expect(await page.$$eval("#messages .msg, #pending .msg", (items) => items.length)).toBe(0);
  expect(await page.getAttribute("#text", "enterkeyhint")).toBe("enter");
  await page.locator("#send").tap();
  await waitText(page, "line one\nline two");
  expect(await page.inputValue("#text")).toBe("");
  // The placeholder is short enough for a phone's width.
  expect(await page.getAttribute("#text", "placeholder")).toBe("Message #lobby");
  expect(pageErrors).toEqual([]);
}, 60_000);

test("the length counter counts what the server counts: 1,800 emoji fit, 2,001 letters do not", async () => {
  const server = await serve({ env: NO_LIMIT });
  const page = await openPage();
  await join(page, server.base, "ada");
  const box = page.getByLabel("Message", { exact: true });
  const height = await page.$eval("#text", (t) => t.getBoundingClientRect().height);
  await box.pressSequentially("a");
  // The box does not shrink (or grow) on the first key.
  expect(await page.$eval("#text", (t) => t.getBoundingClientRect().height)).toBe(height);
  expect(await page.isVisible("#counter")).toBe(false); // far from the limit: no counter

  const emoji = "😀".repeat(1800); // 3,600 UTF-16 units, 1,800 characters for the server
  await box.fill(emoji);
  expect(await page.textContent("#counter")).toBe("1800 / 2000");
  expect(await page.isVisible("#counter")).toBe(true);
  await box.press("Enter");
  await waitText(page, emoji);
  expect((await stored(server.base, "lobby")).map((m) => m.message)).toEqual([emoji]);

  await box.fill("x".repeat(2001));
  expect(await page.textContent("#counter")).toBe("2001 / 2000");
  expect(await page.getAttribute("#counter", "class")).toContain("over");
  await box.press("Enter");
  await page.waitForSelector('#error:has-text("at most 2000 characters")');
  expect(await box.inputValue()).toHaveLength(2001);
  expect(pageErrors).toEqual([]);
}, 60_000);

test("a control character the server refuses is explained, and the text stays", async () => {
  const server = await serve({ env: NO_LIMIT });
  const page = await openPage();
  await join(page, server.base, "ada");
  await say(page, "bell\u0007");
  await page.waitForSelector('#error:has-text("control characters")');
  expect(await page.inputValue("#text")).toBe("bell\u0007");
  expect(pageErrors).toEqual([]);
}, 60_000);

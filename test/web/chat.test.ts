// The web page in real Chromium against the compiled binary: chatting, presence, rooms, history,
// paging, the sticky view, errors in words, the theme.
import { expect, test } from "bun:test";
import { Client } from "../helpers";
import { join, online, openPage, pageErrors, say, serve, texts, useBrowser, waitText } from "./browser";

useBrowser();

const NO_LIMIT = { CHAT_RATE_LIMIT: "0" };

/** The names shown in the online list. */
const onlineNames = (page: import("playwright-core").Page) =>
  page.$$eval("#online .person", (items) => items.map((li) => li.firstChild?.textContent ?? ""));

test("two people chat: names, times, grouping, presence, room list, another room by name", async () => {
  const server = await serve({ env: NO_LIMIT });
  const ada = await openPage();
  const bob = await openPage();
  await join(ada, server.base, "ada");
  await join(bob, server.base, "bob");
  await ada.waitForFunction(() => document.querySelectorAll("#online .person").length === 2);
  expect(await onlineNames(ada)).toEqual(["ada", "bob"]);
  // The room list shows online counts (it refreshes on joins and leaves).
  await ada.waitForSelector('#rooms a[data-room="lobby"][aria-current="page"] .badge:text-is("2 online")');

  await say(ada, "hello bob");
  await waitText(bob, "hello bob");
  const first = bob.locator("#messages .msg").last();
  expect(await first.locator(".name").textContent()).toBe("ada");
  expect(await first.locator("time").textContent()).toMatch(/\d{1,2}[:.]\d{2}/);
  // Screen readers hear messages from others through the live region.
  expect(await bob.textContent("[aria-live=polite]")).toContain("ada: hello bob");

  // Shift+Enter breaks the line, Enter sends.
  await bob.getByLabel("Message", { exact: true }).click();
  await bob.keyboard.type("line one");
  await bob.keyboard.press("Shift+Enter");
  await bob.keyboard.type("line two");
  await bob.keyboard.press("Enter");
  await waitText(ada, "line one\nline two");
  expect(await bob.inputValue("#text")).toBe("");

  // Consecutive messages of one sender are grouped: the second shows no name (to the eye).
  await say(ada, "one");
  await say(ada, "two");
  await waitText(bob, "two");
  const classes = await bob.$$eval("#messages .msg", (items) => items.map((li) => [li.querySelector(".text")!.textContent, li.classList.contains("cont")]));
  expect(classes).toEqual([
    ["hello bob", false],
    ["line one\nline two", false],
    ["one", false],
    ["two", true],
  ]);
  const hiddenName = (await bob.locator("#messages .msg.cont .name").boundingBox())!;
  expect(hiddenName.width * hiddenName.height).toBeLessThanOrEqual(1);
  expect(await bob.$eval("#messages .msg.cont time", (t) => getComputedStyle(t).display)).not.toBe("none");

  // Any room by typing its name: the URL follows (so the link invites), presence moves with ada.
  await ada.getByLabel("Open a room").fill("no spaces!");
  await ada.getByRole("button", { name: "Open" }).click();
  await ada.waitForSelector('#open-error:has-text("A room name is 1-64 letters")');
  await ada.getByLabel("Open a room").fill("side.room");
  await ada.getByRole("button", { name: "Open" }).click();
  await ada.waitForURL(/\?room=side\.room$/);
  await online(ada);
  expect(await ada.textContent("#room-title")).toBe("#side.room");
  await bob.waitForFunction(() => document.querySelectorAll("#online .person").length === 1);
  expect(await onlineNames(bob)).toEqual(["bob"]);
  expect(await ada.$$eval("#messages .msg", (items) => items.length)).toBe(0);

  // bob follows an invite link (#room form); his name is remembered, so no join screen.
  await bob.goto(`${server.base}/#side.room`);
  await online(bob);
  expect(await bob.isVisible("#join")).toBe(false);
  await ada.waitForFunction(() => document.querySelectorAll("#online .person").length === 2);
  await bob.waitForSelector('#rooms a[data-room="side.room"] .badge:text-is("2 online")');
  expect(pageErrors).toEqual([]);
}, 60_000);

test("a reload keeps the name and shows history; older messages load on scroll up; new-messages marker", async () => {
  const server = await serve({ env: NO_LIMIT });
  // 130 messages before anyone opens the page: more than the 100 of the join history.
  const seed = await Client.joined(server.wsUrl("lobby"), "seed");
  for (let i = 1; i <= 130; i++) {
    seed.send({ type: "message", message: `seed ${i}`, clientId: `s${i}` });
    await seed.next("message", (f) => f.clientId === `s${i}`);
  }

  const page = await openPage({ viewport: { width: 1000, height: 700 } });
  await join(page, server.base, "ada");
  await waitText(page, "seed 130");
  await say(page, "before reload");
  await waitText(page, "before reload");

  await page.reload();
  await online(page);
  expect(await page.isVisible("#join")).toBe(false);
  expect(await page.textContent("#me")).toBe("ada");
  await waitText(page, "before reload");
  // Opened at the bottom.
  expect(await page.$eval("#scroller", (s) => s.scrollHeight - s.scrollTop - s.clientHeight)).toBeLessThan(5);
  expect((await texts(page)).length).toBeLessThan(131);

  // Scrolling up pages in older messages until the start of the room.
  await page.waitForFunction(
    () => {
      document.getElementById("scroller")!.scrollTop = 0;
      return document.getElementById("older")!.textContent!.includes("start of");
    },
    undefined,
    { polling: 100 },
  );
  const all = [...Array.from({ length: 130 }, (_, i) => `seed ${i + 1}`), "before reload"];
  expect(await texts(page)).toEqual(all);

  // Scrolled up: a new message does not move the view, a marker says it came.
  const top = await page.$eval("#scroller", (s) => s.scrollTop);
  seed.send({ type: "message", message: "while you read", clientId: "away" });
  await waitText(page, "while you read");
  await page.waitForSelector("#new-marker", { state: "visible" });
  expect(await page.$eval("#scroller", (s) => s.scrollTop)).toBe(top);
  await page.click("#new-marker");
  await page.waitForSelector("#new-marker", { state: "hidden" });
  expect(await page.$eval("#scroller", (s) => s.scrollHeight - s.scrollTop - s.clientHeight)).toBeLessThan(5);

  // At the bottom, the view follows new messages and no marker shows.
  seed.send({ type: "message", message: "and another", clientId: "another" });
  await waitText(page, "and another");
  expect(await page.$eval("#scroller", (s) => s.scrollHeight - s.scrollTop - s.clientHeight)).toBeLessThan(5);
  expect(await page.isVisible("#new-marker")).toBe(false);
  expect(pageErrors).toEqual([]);
}, 60_000);

test("errors in words: too long; rate limited messages wait on screen and go by themselves", async () => {
  const server = await serve({ env: { CHAT_RATE_LIMIT: "0.5", CHAT_RATE_BURST: "2" } });
  const page = await openPage();
  await join(page, server.base, "ada");

  const tooLong = "x".repeat(2001);
  await say(page, tooLong);
  await page.waitForSelector('#error:has-text("too long")');
  expect(await page.textContent("#error")).toContain("2000 characters");
  expect(await page.inputValue("#text")).toBe(tooLong); // kept, to shorten
  await page.locator("#text").fill(tooLong.slice(1)); // fits again: the error goes
  await page.waitForSelector("#error", { state: "hidden" });

  await say(page, "one");
  await waitText(page, "one");
  await say(page, "two");
  await waitText(page, "two");
  await say(page, "three"); // over the burst of 2: refused, then sent again after retryAfter
  const waiting = page.locator('#pending .msg:has-text("three")');
  await waiting.locator('.time:has-text("will send in")').waitFor();
  expect(await page.inputValue("#text")).toBe(""); // the message is on screen, not in the box
  await waitText(page, "three", 10_000);
  await waiting.waitFor({ state: "detached" });
  expect(pageErrors).toEqual([]);
}, 60_000);

test("light and dark theme follow the system setting", async () => {
  const server = await serve({ env: NO_LIMIT });
  const light = await openPage({ colorScheme: "light" });
  const dark = await openPage({ colorScheme: "dark" });
  await join(light, server.base, "ada");
  await join(dark, server.base, "bob");
  const bg = (page: typeof light) => page.$eval("body", (b) => getComputedStyle(b).backgroundColor);
  const lum = (rgb: string) => rgb.match(/\d+/g)!.slice(0, 3).reduce((sum, v) => sum + Number(v), 0);
  expect(lum(await bg(light))).toBeGreaterThan(600);
  expect(lum(await bg(dark))).toBeLessThan(150);
  expect(pageErrors).toEqual([]);
}, 60_000);

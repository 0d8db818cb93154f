// Reading the page right: right-to-left text laid out right to left, the messages in a
// role="log", a grouped follow-up still named by its sender, focus never dropped to <body>,
// "Link copied" announced, and "Change name" that asks before it does anything.
import { expect, test } from "bun:test";
import { Client } from "../helpers";
import { join, online, openPage, pageErrors, say, serve, useBrowser, waitText } from "./browser";

useBrowser();

const NO_LIMIT = { CHAT_RATE_LIMIT: "0" };

test("right-to-left names and messages are laid out right to left", async () => {
  const server = await serve({ env: NO_LIMIT });
  const page = await openPage({ viewport: { width: 1000, height: 700 } });
  await join(page, server.base, "ada");
  const dana = await Client.joined(server.wsUrl("lobby"), "דנה");
  dana.send({ type: "message", message: "שלום לכולם, מה שלומכם היום?", clientId: "he" });
  await dana.next("message", (f) => f.clientId === "he");
  await say(page, "مرحبا بالجميع");
  await waitText(page, "مرحبا بالجميع");
  await waitText(page, "שלום לכולם, מה שלומכם היום?");

  const layout = await page.$$eval("#messages .msg", (items) =>
    items.map((li) => {
      const text = li.querySelector(".text") as HTMLElement;
      const range = document.createRange();
      range.selectNodeContents(text);
      const line = range.getBoundingClientRect();
      const box = text.getBoundingClientRect();
      return {
        name: getComputedStyle(li.querySelector(".name")!).direction,
        text: getComputedStyle(text).direction,
        // Right to left: the line hugs the right edge of its box, far from the left one.
        rightGap: Math.round(box.right - line.right),
        leftGap: Math.round(line.left - box.left),
      };
    }),
  );
  expect(layout).toHaveLength(2);
  for (const msg of layout) {
    expect(msg.text).toBe("rtl");
    expect(msg.rightGap).toBeLessThanOrEqual(1);
    expect(msg.leftGap).toBeGreaterThan(200);
  }
  expect(layout[0]!.name).toBe("rtl"); // דנה
  expect(layout[1]!.name).toBe("ltr"); // ada
  // The composer and the online list follow the text too.
  expect(await page.getAttribute("#text", "dir")).toBe("auto");
  await page.waitForFunction(() => document.querySelectorAll("#online .person-name").length === 2);
  const people = await page.$$eval("#online .person-name", (names) => names.map((n) => [n.textContent, getComputedStyle(n).direction]));
  expect(people).toContainEqual(["דנה", "rtl"]);
  dana.close();
  expect(pageErrors).toEqual([]);
}, 60_000);

test("screen readers: a role=log of messages, follow-ups named by their sender, focus kept, Link copied announced", async () => {
  const server = await serve({ env: NO_LIMIT });
  const page = await openPage({ viewport: { width: 1000, height: 700 } });
  await page.context().grantPermissions(["clipboard-read", "clipboard-write"], { origin: server.base });
  await join(page, server.base, "ada");
  const bob = await Client.joined(server.wsUrl("lobby"), "bob");
  for (const [i, text] of ["first from bob", "second from bob"].entries()) {
    bob.send({ type: "message", message: text, clientId: `b${i}` });
    await bob.next("message", (f) => f.clientId === `b${i}`);
  }
  await waitText(page, "second from bob");

  // The messages are in the log.
  const log = page.getByRole("log");
  expect(await log.count()).toBe(1);
  expect(await log.locator(".msg").count()).toBe(2);
  // The follow-up shows no name, yet its accessible name starts with its sender.
  expect(await page.locator("#messages .msg").nth(1).getAttribute("class")).toContain("cont");
  const followUp = page.getByRole("listitem", { name: /^bob second from bob/ });
  expect(await followUp.count()).toBe(1);
  // Its sender is visually hidden, not display:none (which would hide it from screen readers too).
  expect(await followUp.locator(".name").evaluate((n) => getComputedStyle(n).display)).not.toBe("none");
  // Its time shows on hover or focus only.
  const timeOpacity = () => followUp.locator("time").evaluate((t) => getComputedStyle(t).opacity);
  expect(await timeOpacity()).toBe("0");
  await followUp.focus();
  expect(await timeOpacity()).toBe("1");

  // Arrow keys move between messages in the log.
  await page.keyboard.press("ArrowUp");
  expect(await page.evaluate(() => document.activeElement?.querySelector(".text")?.textContent)).toBe("first from bob");

  // Choosing a room with the keyboard leaves focus in the composer, not on <body>.
  await say(page, "so lobby is listed");
  await page.getByLabel("Open a room").fill("other");
  await page.getByRole("button", { name: "Open" }).click();
  await online(page);
  await page.locator('#rooms a[data-room="lobby"]').focus();
  await page.keyboard.press("Enter");
  await page.waitForURL(/room=lobby$/);
  expect(await page.evaluate(() => document.activeElement?.id)).toBe("text");

  // "Link copied" is said, not only shown.
  await page.getByRole("button", { name: "Invite" }).click();
  await page.waitForFunction(() => document.querySelector('[role="status"]#status')?.textContent === "Link copied");
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(`${server.base}/?room=lobby`);
  bob.close();
  expect(pageErrors).toEqual([]);
}, 60_000);

test("Change name asks first: Cancel changes nothing, Save rejoins under the new name", async () => {
  const server = await serve({ env: NO_LIMIT });
  const ada = await openPage();
  const bob = await openPage();
  await join(ada, server.base, "ada");
  await join(bob, server.base, "bob");
  await bob.waitForFunction(() => document.querySelectorAll("#online .person").length === 2);
  // bob notes every change of his online list from here on.
  await bob.evaluate(() => {
    (window as any).rosters = [];
    new MutationObserver(() => (window as any).rosters.push(document.getElementById("online")!.textContent)).observe(document.getElementById("online")!, { childList: true, subtree: true });
  });

  await ada.getByRole("button", { name: "Change name" }).click();
  const dialog = ada.getByRole("dialog", { name: "Change name" });
  await dialog.waitFor();
  expect(await ada.evaluate(() => document.activeElement?.id)).toBe("rename-name");
  await dialog.getByRole("button", { name: "Cancel" }).click();
  await dialog.waitFor({ state: "hidden" });
  expect(await ada.evaluate(() => document.activeElement?.id)).toBe("rename");
  expect(await ada.getAttribute("#conn", "data-state")).toBe("online");
  await say(ada, "still here");
  await waitText(bob, "still here");
  expect(await bob.evaluate(() => (window as any).rosters.filter((r: string) => !r.includes("ada")))).toEqual([]);

  await ada.getByRole("button", { name: "Change name" }).click();
  await dialog.getByLabel("New name").fill("ada lovelace");
  await dialog.getByRole("button", { name: "Save" }).click();
  await online(ada);
  expect(await ada.textContent("#me")).toBe("ada lovelace");
  await bob.waitForFunction(() => document.getElementById("online")!.textContent!.includes("ada lovelace"));
  await say(ada, "renamed");
  await waitText(bob, "renamed");
  expect(await bob.locator("#messages .msg").last().locator(".name").textContent()).toBe("ada lovelace");
  expect(pageErrors).toEqual([]);
}, 60_000);

// Nothing typed is lost: a message typed while offline stays in its room (across a room switch
// and a reload) and is stored there once; a burst over the rate limit is sent in full, each
// message once, the refused ones waiting on screen until they go.
import { expect, test } from "bun:test";
import type { Page } from "playwright-core";
import { freePort, join, online, openPage, pageErrors, say, scratchDir, serve, socketSwitch, stored, useBrowser, waitText } from "./browser";

useBrowser();

const pending = (page: Page) => page.$$eval("#pending .msg", (items) => items.map((li) => [li.querySelector(".text")!.textContent, li.querySelector(".time")!.textContent]));
const badges = (page: Page, room: string) => page.locator(`#rooms a[data-room="${room}"] .badges`).textContent();
const openFromList = (page: Page, room: string) => page.locator(`#rooms a[data-room="${room}"]`).click();

test("an offline message stays in its room across a room switch and a reload, and lands there once", async () => {
  const server = await serve({ env: { CHAT_RATE_LIMIT: "0" } });
  const page = await openPage();
  const net = await socketSwitch(page);
  await join(page, server.base, "ada", "lobby");
  await say(page, "hi lobby");
  await waitText(page, "hi lobby");
  await page.getByLabel("Open a room").fill("roomA");
  await page.getByRole("button", { name: "Open" }).click();
  await online(page);
  await say(page, "first in A");
  await waitText(page, "first in A");

  net.cut("*");
  await page.waitForSelector('#conn[data-state="reconnecting"]');
  await say(page, "Important");
  expect(await pending(page)).toEqual([["Important", "Not sent yet: will send when back online."]]);
  expect(await page.isVisible('#pending button:text-is("Retry now")')).toBe(true);
  expect(await page.isVisible('#pending button:text-is("Cancel")')).toBe(true);
  // Offline, nobody is known to be here: no "(0)".
  expect(await page.textContent("#online-count")).toBe("");
  expect(await page.isVisible("#online-unknown")).toBe(true);

  // To #lobby: the message stays in #roomA, it is not lobby's draft.
  await openFromList(page, "lobby");
  await page.waitForURL(/room=lobby$/);
  expect(await page.inputValue("#text")).toBe("");
  expect(await pending(page)).toEqual([]);
  await page.waitForFunction(() => document.querySelector('#rooms a[data-room="roomA"] .badge.unsent')?.textContent === "1 unsent");

  // A reload, still offline: the message is still #roomA's.
  await page.reload();
  await page.waitForSelector("#chat:not([hidden])");
  expect(await page.inputValue("#text")).toBe("");
  expect(await pending(page)).toEqual([]);
  await page.waitForFunction(() => document.querySelector('#rooms a[data-room="roomA"] .badge.unsent')?.textContent === "1 unsent");
  await openFromList(page, "roomA");
  await page.waitForURL(/room=roomA$/);
  await page.waitForSelector('#pending .msg:has-text("Important")');
  expect(await pending(page)).toEqual([["Important", "Not sent yet: will send when back online."]]);

  // Back in #lobby, the server comes back: #roomA's message goes to #roomA by itself.
  await openFromList(page, "lobby");
  net.restore("*");
  await online(page);
  await page.waitForFunction(() => !document.querySelector('#rooms a[data-room="roomA"] .badge.unsent'), undefined, { timeout: 15_000 });
  expect((await stored(server.base, "roomA")).map((m) => m.message)).toEqual(["first in A", "Important"]);
  expect((await stored(server.base, "lobby")).map((m) => m.message)).toEqual(["hi lobby"]);
  expect(await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith("chat.outbox.")))).toEqual([]);

  // And #roomA shows it once, as sent.
  await openFromList(page, "roomA");
  await waitText(page, "Important");
  expect(await page.$$eval("#messages .text", (t) => t.filter((n) => n.textContent === "Important").length)).toBe(1);
  expect(await pending(page)).toEqual([]);
  expect(pageErrors).toEqual([]);
}, 60_000);

test("the issue's steps: server down, 'Important' in #roomA, click #lobby, Enter: it still lands in #roomA only", async () => {
  const cwd = scratchDir();
  const port = await freePort();
  const start = () => serve({ cwd, args: ["--port", String(port)], env: { CHAT_RATE_LIMIT: "0" } });
  let server = await start();
  const page = await openPage();
  await join(page, server.base, "ada", "roomA");
  server.proc.kill("SIGTERM");
  await server.proc.exited;
  await page.waitForSelector('#conn[data-state="reconnecting"]');
  await say(page, "Important");
  await page.waitForSelector('#pending .msg:has-text("Important")');

  await openFromList(page, "lobby"); // the home room is always listed
  await page.waitForURL(/room=lobby$/);
  expect(await page.inputValue("#text")).toBe("");
  await page.getByLabel("Message", { exact: true }).press("Enter"); // nothing to send here
  expect(await pending(page)).toEqual([]);

  server = await start();
  await online(page);
  await page.waitForFunction(() => !document.querySelector('#rooms a[data-room="roomA"] .badge.unsent'), undefined, { timeout: 15_000 });
  expect((await stored(server.base, "roomA")).map((m) => m.message)).toEqual(["Important"]);
  expect(await stored(server.base, "lobby")).toEqual([]);
  expect(pageErrors).toEqual([]);
}, 60_000);

test("Cancel takes an unsent message back into the composer; Retry now, or the page's own reconnect, sends the next one once", async () => {
  const server = await serve({ env: { CHAT_RATE_LIMIT: "0" } });
  const page = await openPage();
  const net = await socketSwitch(page);
  await join(page, server.base, "ada");
  net.cut("*");
  await page.waitForSelector('#conn[data-state="reconnecting"]');
  await say(page, "never mind");
  await page.locator('#pending button:text-is("Cancel")').click();
  expect(await pending(page)).toEqual([]);
  expect(await page.inputValue("#text")).toBe("never mind");
  expect(await page.evaluate(() => document.activeElement?.id)).toBe("text");

  await say(page, "send this");
  net.restore("*");
  // The page also reconnects by itself (backoff with jitter), and on a loaded machine it may do so
  // before the click lands: then the button is gone with the message sent, which is as good.
  const retry = page.locator('#pending button:text-is("Retry now")');
  await retry.click({ timeout: 5000 }).catch(async (error) => {
    if (await retry.isVisible()) throw error;
  });
  await waitText(page, "send this");
  expect((await stored(server.base, "lobby")).map((m) => m.message)).toEqual(["send this"]);
  expect(pageErrors).toEqual([]);
}, 60_000);

test("14 fast messages under the default limits are all stored, each once, none lost on the way", async () => {
  const server = await serve(); // the default rate limit: a burst of 10, then 2 a second
  const page = await openPage();
  await join(page, server.base, "ada");
  // Record every status an unsent message showed.
  await page.evaluate(() => {
    (window as any).statuses = new Set<string>();
    new MutationObserver(() => {
      for (const t of document.querySelectorAll("#pending .time")) (window as any).statuses.add(t.textContent!.replace(/\d+ s/, "N s"));
    }).observe(document.getElementById("pending")!, { subtree: true, childList: true, characterData: true });
  });
  const sent = Array.from({ length: 14 }, (_, i) => `fast ${i + 1}`);
  for (const text of sent) await say(page, text);
  expect(await page.inputValue("#text")).toBe("");
  // Nothing vanishes: each is either in the list or on screen as unsent, until all are sent.
  await page.waitForFunction(
    (texts) => {
      const shown = [...document.querySelectorAll("#messages .text, #pending .text")].map((n) => n.textContent);
      if (!texts.every((t) => shown.includes(t))) throw new Error(`a message vanished: ${JSON.stringify(shown)}`);
      return document.querySelectorAll("#pending .msg").length === 0;
    },
    sent,
    { timeout: 20_000, polling: 50 },
  );
  const statuses = await page.evaluate(() => [...(window as any).statuses]);
  expect(statuses).toContain("Sending too fast: will send in N s.");
  const messages = (await stored(server.base, "lobby")).map((m) => m.message);
  expect(messages.slice().sort()).toEqual(sent.slice().sort());
  expect(messages).toEqual(sent); // and in the order typed
  expect(pageErrors).toEqual([]);
}, 60_000);

// The room list: new rooms without a 15 s wait, typos dropped, unread counts and the tab title,
// rows that keep still under the pointer, no stale online counts offline.
import { expect, test } from "bun:test";
import type { Page } from "playwright-core";
import { Client } from "../helpers";
import { join, online, openPage, pageErrors, say, serve, socketSwitch, useBrowser, waitText } from "./browser";

useBrowser();

const order = (page: Page) => page.$$eval("#rooms a[data-room]", (links) => links.map((a) => (a as HTMLElement).dataset.room));
const badge = (page: Page, room: string, kind: string) => page.locator(`#rooms a[data-room="${room}"] .badge.${kind}`);
const openFromList = async (page: Page, room: string) => {
  await page.locator(`#rooms a[data-room="${room}"]`).click();
  await page.mouse.move(700, 400); // off the list, which keeps still while the pointer is on it
  await page.waitForURL(new RegExp(`room=${room}$`));
  await online(page);
};

test("the room list follows the rooms, counts unread, keeps still under the pointer, shows no stale counts", async () => {
  const server = await serve({ env: { CHAT_RATE_LIMIT: "0" } });
  const page = await openPage({ viewport: { width: 1000, height: 700 } });
  const net = await socketSwitch(page);
  await join(page, server.base, "ada");
  await say(page, "hi");
  await waitText(page, "hi");

  // Someone starts a room: it is listed within a few seconds, not at a 15 s refresh.
  const bob = await Client.joined(server.wsUrl("fresh"), "bob");
  let n = 0;
  const bobSays = async (text: string) => {
    const clientId = `b${++n}`;
    bob.send({ type: "message", message: text, clientId });
    await bob.next("message", (f) => f.clientId === clientId);
  };
  await bobSays("fresh 1");
  const started = Date.now();
  await page.waitForSelector('#rooms a[data-room="fresh"]', { timeout: 8000 });
  expect(Date.now() - started).toBeLessThan(8000);

  // A room opened by mistake and left empty is not listed once one leaves it.
  await page.getByLabel("Open a room").fill("tpyo");
  await page.getByRole("button", { name: "Open" }).click();
  await online(page);
  expect(await order(page)).toContain("tpyo");
  await openFromList(page, "lobby");
  await page.waitForFunction(() => !document.querySelector('#rooms a[data-room="tpyo"]'), undefined, { timeout: 8000 });

  // Visit #fresh (so the page knows what was seen there), then talk in #lobby: it goes first.
  await openFromList(page, "fresh");
  await waitText(page, "fresh 1");
  await openFromList(page, "lobby");
  await say(page, "lobby again");
  await page.waitForFunction(() => document.querySelector("#rooms a[data-room]")?.getAttribute("data-room") === "lobby", undefined, { timeout: 8000 });
  expect(await order(page)).toEqual(["lobby", "fresh"]);

  // With the pointer on the list, #fresh gets newer (and unread) but does not jump to the top.
  await page.locator('#rooms a[data-room="lobby"]').hover();
  await bobSays("fresh 2");
  await bobSays("fresh 3");
  await badge(page, "fresh", "unread").filter({ hasText: "2 new" }).waitFor({ timeout: 8000 });
  expect(await order(page)).toEqual(["lobby", "fresh"]);
  expect(await page.title()).toBe("(2) #lobby · chat");
  // The pointer leaves: now it moves.
  await page.mouse.move(700, 400);
  await page.waitForFunction(() => document.querySelector("#rooms a[data-room]")?.getAttribute("data-room") === "fresh");

  // In #fresh, a "New" line before the first unread; nothing unread is left for the title.
  await openFromList(page, "fresh");
  await waitText(page, "fresh 3");
  const divided = await page.$$eval("#messages .msg", (items) => items.map((li) => [li.querySelector(".text")!.textContent, !!li.querySelector(".unread-divider")]));
  expect(divided).toEqual([
    ["fresh 1", false],
    ["fresh 2", true],
    ["fresh 3", false],
  ]);
  expect(await page.title()).toBe("#fresh · chat");
  expect(await badge(page, "fresh", "some").textContent()).toBe("2 online");

  // Offline: no online counts anywhere (they would be stale), and no "(0)".
  net.cut("*");
  await page.waitForSelector('#conn[data-state="reconnecting"]');
  expect(await page.locator("#rooms .badge.some").count()).toBe(0);
  expect(await page.textContent("#online-count")).toBe("");
  expect(await page.locator("#online .person").count()).toBe(0);
  bob.close();
  expect(pageErrors).toEqual([]);
}, 60_000);

// A long room: 10,000 messages stored over a week, read by scrolling all the way up. The page
// keeps a window of them in the DOM, so DOM nodes and JS memory stay flat however far one
// scrolls; day headings mark the days; "Latest messages" brings the live end back.
import { Database } from "bun:sqlite";
import { expect, test } from "bun:test";
import { join as joinPath } from "node:path";
import type { Page } from "playwright-core";
import { Client } from "../helpers";
import { freePort, online, openPage, pageErrors, scratchDir, serve, useBrowser, waitText } from "./browser";

useBrowser();

const COUNT = 10_000;
const WINDOW = 300; // public/app.ts: the most messages the DOM holds

/** DOM nodes and JS heap after a full GC, from Chromium's own counters. */
async function footprint(page: Page) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("HeapProfiler.collectGarbage");
  await cdp.send("Performance.enable");
  const { metrics } = await cdp.send("Performance.getMetrics");
  await cdp.detach();
  const metric = (name: string) => metrics.find((m) => m.name === name)!.value;
  return { nodes: metric("Nodes"), heapMB: metric("JSHeapUsedSize") / 2 ** 20 };
}

test("10,000 messages scrolled through: the DOM and memory stay flat", async () => {
  const cwd = scratchDir();
  const port = await freePort();
  const start = () => serve({ cwd, args: ["--port", String(port)], env: { CHAT_RATE_LIMIT: "0" } });
  // The binary creates and migrates chat.db; the messages go straight into the file meanwhile.
  const first = await start();
  // (Not asserting a clean exit: a SIGTERM right after "listening" may come before its handler.)
  first.proc.kill("SIGTERM");
  await first.proc.exited;
  const now = Date.now();
  const db = new Database(joinPath(cwd, "chat.db"));
  const insert = db.prepare("INSERT INTO messages (room, name, message, timestamp) VALUES (?, ?, ?, ?)");
  db.transaction(() => {
    // One a minute, the last one a minute ago: about a week, so there are days to mark.
    for (let i = 1; i <= COUNT; i++) insert.run("long", ["lin", "grace", "ada"][i % 3]!, `long ${i}`, now - (COUNT - i + 1) * 60_000);
  })();
  db.close();
  const server = await start();

  const page = await openPage({ viewport: { width: 1000, height: 700 } });
  await page.goto(`${server.base}/?room=long`);
  await page.evaluate(() => localStorage.setItem("chat.name", "ada"));
  await page.reload();
  await online(page);
  await waitText(page, `long ${COUNT}`);
  const before = await footprint(page);

  // Scroll up to the very first message, noting the most messages the DOM ever held.
  const most = await page.evaluate(async () => {
    const scroller = document.getElementById("scroller")!;
    let most = 0;
    const deadline = Date.now() + 60_000;
    while (!document.getElementById("older")!.textContent!.includes("start of") && Date.now() < deadline) {
      scroller.scrollTop = 0;
      most = Math.max(most, document.querySelectorAll("#messages .msg").length);
      await new Promise((resolve) => setTimeout(resolve, 15));
    }
    return Math.max(most, document.querySelectorAll("#messages .msg").length);
  });
  expect(await page.textContent("#older")).toBe("This is the start of #long.");
  expect(await page.textContent("#messages .msg .text")).toBe("long 1");
  expect(most).toBeLessThanOrEqual(WINDOW);
  const after = await footprint(page);
  console.log(`long room: ${COUNT} messages scrolled; DOM nodes ${before.nodes} -> ${after.nodes}, JS heap ${before.heapMB.toFixed(1)} -> ${after.heapMB.toFixed(1)} MB, at most ${most} messages in the DOM`);
  expect(after.nodes).toBeLessThan(before.nodes * 3 + 500); // 300 messages against the first 100
  expect(after.heapMB).toBeLessThan(before.heapMB + 8);

  // The days are marked: a date up there, "Yesterday" and "Today" further down.
  const firstDay = await page.textContent("#messages .day");
  expect(firstDay).toMatch(/\d/);

  // A live message while reading the start: it does not come into the view; the button brings
  // back the latest, with it.
  const bob = await Client.joined(server.wsUrl("long"), "bob");
  bob.send({ type: "message", message: "live one", clientId: "live" });
  await bob.next("message", (f) => f.clientId === "live");
  await page.waitForSelector('#new-marker:has-text("1 new message")');
  expect(await page.locator('#messages .text:text-is("live one")').count()).toBe(0);
  await page.click("#new-marker");
  await waitText(page, "live one");
  const tail = await page.$$eval("#messages .msg .text", (nodes) => nodes.slice(-3).map((n) => n.textContent));
  expect(tail).toEqual([`long ${COUNT - 1}`, `long ${COUNT}`, "live one"]);
  expect(await page.$$eval("#messages .day", (days) => days.map((d) => d.textContent))).toContain("Today");
  expect(await page.evaluate(() => document.activeElement?.id)).toBe("text");
  bob.close();
  expect(pageErrors).toEqual([]);
}, 90_000);

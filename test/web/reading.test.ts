// What people expect when reading: links that open (http and https only), @mentions marked,
// desktop notifications only once asked for by a click, a quiet room's messages at the bottom,
// "N new messages" with a line where they start, a long name beside its online dot.
import { expect, test } from "bun:test";
import { Client } from "../helpers";
import { join, openPage, pageErrors, say, serve, useBrowser, waitText } from "./browser";

useBrowser();

const NO_LIMIT = { CHAT_RATE_LIMIT: "0" };

async function speaker(wsUrl: string, name: string) {
  const client = await Client.joined(wsUrl, name);
  let n = 0;
  return {
    client,
    async say(message: string) {
      const clientId = `${name}${++n}`;
      client.send({ type: "message", message, clientId });
      await client.next("message", (f) => f.clientId === clientId);
    },
  };
}

test("links, mentions, and notifications only after a click", async () => {
  const server = await serve({ env: NO_LIMIT });
  const page = await openPage({ permissions: ["notifications"] });
  // Notifications shown, and permission requests, are noted (the real API underneath).
  await page.addInitScript(() => {
    const Real = window.Notification;
    const seen: { shown: string[][]; asked: number } = { shown: [], asked: 0 };
    (window as any).notes = seen;
    class Noted extends Real {
      constructor(title: string, options?: NotificationOptions) {
        super(title, options);
        seen.shown.push([title, options?.body ?? ""]);
      }
      static override requestPermission(...args: any[]) {
        seen.asked++;
        return (Real.requestPermission as any)(...args);
      }
    }
    window.Notification = Noted as any;
  });
  await join(page, server.base, "ada");
  const bob = await speaker(server.wsUrl("lobby"), "bob");

  await bob.say("see https://en.wikipedia.org/wiki/Chat_(software). or javascript:alert(1) or http://x.test/?q=1&r=2, and @ada look");
  const msg = page.locator("#messages .msg").last();
  await msg.waitFor();
  const links = await msg.locator("a").evaluateAll((as) => as.map((a) => [a.getAttribute("href"), a.textContent, a.getAttribute("rel"), a.getAttribute("target")]));
  expect(links).toEqual([
    ["https://en.wikipedia.org/wiki/Chat_(software)", "https://en.wikipedia.org/wiki/Chat_(software)", "noopener noreferrer", "_blank"],
    ["http://x.test/?q=1&r=2", "http://x.test/?q=1&r=2", "noopener noreferrer", "_blank"],
  ]);
  expect(await msg.locator(".text").textContent()).toContain("javascript:alert(1)"); // as text
  expect(await msg.locator("mark.mention").textContent()).toBe("@ada");
  expect(await msg.getAttribute("class")).toContain("mentioned");
  // Not a word of it as a mention of someone else whose name only starts the same.
  await bob.say("@adam is not ada");
  await waitText(page, "@adam is not ada");
  expect(await page.locator("#messages .msg").last().locator("mark").count()).toBe(0);

  // Nothing asked and nothing shown before the person clicks.
  expect(await page.evaluate(() => (window as any).notes)).toEqual({ shown: [], asked: 0 });
  await page.getByRole("button", { name: "Notify me" }).click();
  await page.waitForSelector('#notify[aria-pressed="true"]');
  expect(await page.evaluate(() => (window as any).notes.asked)).toBe(1);
  await bob.say("@ada are you there?");
  await page.waitForFunction(() => (window as any).notes.shown.length === 1);
  await bob.say("no mention, and the tab is visible");
  await waitText(page, "no mention, and the tab is visible");
  expect(await page.evaluate(() => (window as any).notes.shown)).toEqual([["bob in #lobby", "@ada are you there?"]]);
  bob.client.close();
  expect(pageErrors).toEqual([]);
}, 60_000);

test("a quiet room reads from the bottom; new messages while scrolled up get a count and a line", async () => {
  const server = await serve({ env: NO_LIMIT });
  const page = await openPage({ viewport: { width: 1000, height: 600 } });
  await join(page, server.base, "ada", "quiet");
  await say(page, "only one");
  await waitText(page, "only one");
  const gap = await page.evaluate(() => {
    const scroller = document.getElementById("scroller")!.getBoundingClientRect();
    const last = document.querySelector("#messages .msg")!.getBoundingClientRect();
    return scroller.bottom - last.bottom;
  });
  expect(gap).toBeLessThan(30); // next to the composer, not at the top of an empty page

  // A long unbroken name wraps beside its dot, not below it.
  const longName = "averyveryverylongnamewithnospace";
  const lin = await speaker(server.wsUrl("quiet"), longName);
  await page.waitForFunction(() => document.querySelectorAll("#online .person").length === 2);
  const person = page.locator("#online .person", { hasText: longName });
  const [row, label] = [await person.boundingBox(), await person.locator(".person-name").boundingBox()];
  expect(label!.x).toBeGreaterThan(row!.x + 10);
  expect(Math.abs(label!.y - row!.y)).toBeLessThan(6);

  for (let i = 1; i <= 40; i++) await lin.say(`filler ${i}`);
  await waitText(page, "filler 40");
  await page.$eval("#scroller", (s) => (s.scrollTop = 0));
  await lin.say("news 1");
  await lin.say("news 2");
  await page.waitForSelector('#new-marker:text-is("2 new messages ↓")');
  const divided = await page.$$eval("#messages .msg", (items) => items.filter((li) => li.querySelector(".unread-divider")).map((li) => li.querySelector(".text")!.textContent));
  expect(divided).toEqual(["news 1"]);
  expect(await page.title()).toBe("(2) #quiet · chat");
  await page.click("#new-marker");
  await page.waitForSelector("#new-marker", { state: "hidden" });
  expect(await page.evaluate(() => document.activeElement?.id)).toBe("text"); // not a hidden button
  expect(await page.title()).toBe("#quiet · chat");
  lin.client.close();
  expect(pageErrors).toEqual([]);
}, 60_000);

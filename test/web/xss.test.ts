// Names and messages are text, never HTML: 20 payloads that would run script (each sets
// window.__xss) or inject markup arrive as names and messages, live and from history.
import { expect, test } from "bun:test";
import type { Page } from "playwright-core";
import { Client } from "../helpers";
import { join, online, openPage, pageErrors, say, serve, useBrowser, waitText } from "./browser";

useBrowser();

// At most 32 characters each, so every one is also a valid name.
const PAYLOADS = [
  "<script>__xss=1</script>",
  "<img src=x onerror=__xss=2>",
  "<svg onload=__xss=3>",
  "<body onload=__xss=4>",
  '"><img src=x onerror=__xss=5>',
  "'><svg/onload=__xss=6>",
  "<iframe src=javascript:__xss=7>",
  "<details open ontoggle=__xss=8>",
  "<video src=x onerror=__xss=9>",
  "<audio src=x onerror=__xss=10>",
  "<embed src=javascript:__xss=11>",
  "</textarea><script>__xss=12//",
  "</li><svg onload=__xss=13>",
  "<style onload=__xss=14>",
  "<marquee onstart=__xss=15>",
  "<a href=javascript:__xss=16>a</a",
  "&lt;b&gt;entity&amp;",
  "${__xss=18}",
  "{{7*7}}<b>bold</b>",
  "<img srcset=x onerror=__xss=20>",
];

/** Only the elements the page itself builds: any other tag in these places came from a payload. */
async function onlyOwnMarkup(page: Page) {
  return page.evaluate(() => ({
    xss: (window as any).__xss,
    messages: document.querySelectorAll("#messages *:not(li.msg, span, time, div.text, h2.day, p.unread-divider, mark.mention)").length,
    online: document.querySelectorAll("#online *:not(li, span)").length,
    announcer: document.querySelectorAll("#announcer *:not(p)").length,
    me: document.querySelectorAll("#me *").length,
  }));
}

test("20 XSS payloads as names and messages render as text and run nothing", async () => {
  expect(PAYLOADS).toHaveLength(20);
  expect(PAYLOADS.every((p) => p.length <= 32)).toBe(true);
  const server = await serve({ env: { CHAT_RATE_LIMIT: "0", CHAT_MAX_CONNECTIONS_PER_IP: "0" } });
  const page = await openPage();
  // The page's own name is a payload too (typed into the join screen, kept in localStorage).
  await join(page, server.base, PAYLOADS[1]!);

  // Each payload joins as a name and sends itself as a message; they stay online.
  for (const [i, payload] of PAYLOADS.entries()) {
    const client = await Client.joined(server.wsUrl("lobby"), payload);
    client.send({ type: "message", message: payload, clientId: `x${i}` });
    await client.next("message", (f) => f.clientId === `x${i}`);
  }
  await say(page, PAYLOADS[0]!); // and one typed into the page's own compose box
  await waitText(page, PAYLOADS[0]!);
  await page.waitForFunction((n) => document.querySelectorAll("#messages .msg").length === n, PAYLOADS.length + 1);

  const check = async () => {
    const shown = await page.$$eval("#messages .msg", (items) => items.map((li) => [li.querySelector(".name")!.textContent, li.querySelector(".text")!.textContent]));
    const expected: string[][] = [...PAYLOADS.map((p) => [p, p]), [PAYLOADS[1]!, PAYLOADS[0]!]];
    expect(shown).toEqual(expected);
    expect(await onlyOwnMarkup(page)).toEqual({ xss: undefined, messages: 0, online: 0, announcer: 0, me: 0 });
  };
  await page.waitForFunction((n) => document.querySelectorAll("#online .person").length === n, PAYLOADS.length);
  const names = await page.$$eval("#online .person", (items) => items.map((li) => li.firstChild!.textContent));
  expect(names.slice().sort()).toEqual(PAYLOADS.slice().sort());
  expect(await page.textContent("#me")).toBe(PAYLOADS[1]!);
  expect(await page.textContent("#announcer")).toContain(`${PAYLOADS[19]}: ${PAYLOADS[19]}`);
  await check();

  // The same payloads again, this time out of the history after a reload.
  await page.reload();
  await online(page);
  await page.waitForFunction((n) => document.querySelectorAll("#messages .msg").length === n, PAYLOADS.length + 1);
  await check();
  expect(pageErrors).toEqual([]);
}, 60_000);

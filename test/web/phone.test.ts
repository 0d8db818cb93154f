// A phone-size viewport: no horizontal scrolling, the compose box and Send on screen and usable
// by touch, rooms and people behind a drawer.
import { expect, test } from "bun:test";
import type { Page } from "playwright-core";
import { join, openPage, pageErrors, serve, useBrowser, waitText } from "./browser";

useBrowser();

const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 3, isMobile: true, hasTouch: true };

async function onScreen(page: Page, selector: string) {
  const box = (await page.locator(selector).boundingBox())!;
  expect(box).not.toBeNull();
  expect(box.x).toBeGreaterThanOrEqual(0);
  expect(box.y).toBeGreaterThanOrEqual(0);
  expect(box.x + box.width).toBeLessThanOrEqual(PHONE.viewport.width);
  expect(box.y + box.height).toBeLessThanOrEqual(PHONE.viewport.height);
}

const noHorizontalScroll = (page: Page) =>
  page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth && document.body.scrollWidth <= window.innerWidth);

test("a phone-size viewport is usable", async () => {
  const server = await serve({ env: { CHAT_RATE_LIMIT: "0" } });
  const page = await openPage(PHONE);
  await page.goto(`${server.base}/?room=lobby`);
  await onScreen(page, "#join-name");
  await onScreen(page, "#join-form button");
  expect(await noHorizontalScroll(page)).toBe(true);
  await join(page, server.base, "ada");

  await onScreen(page, "#text");
  await onScreen(page, "#send");
  await onScreen(page, "#conn");
  await onScreen(page, "#invite"); // still there on a phone
  // The compose box is wide enough to type in comfortably.
  expect((await page.locator("#text").boundingBox())!.width).toBeGreaterThan(200);

  // Long unbreakable words and many lines still fit the width; compose stays on screen.
  await page.locator("#text").tap();
  await page.locator("#text").fill(`https://example.com/${"a".repeat(300)}`);
  await page.locator("#send").tap();
  await waitText(page, `https://example.com/${"a".repeat(300)}`);
  for (let i = 1; i <= 30; i++) {
    await page.locator("#text").fill(`line ${i}`);
    await page.locator("#send").tap();
  }
  await waitText(page, "line 30");
  expect(await noHorizontalScroll(page)).toBe(true);
  await onScreen(page, "#text");
  await onScreen(page, "#send");
  expect(await page.$eval("#messages .msg:last-child", (li) => li.getBoundingClientRect().right <= window.innerWidth)).toBe(true);

  // Rooms and who is online are one tap away, in a drawer.
  expect(await page.isVisible("#rooms-toggle")).toBe(true);
  expect(await page.locator("#sidebar").isVisible()).toBe(false);
  await page.locator("#rooms-toggle").tap();
  await page.waitForSelector("#sidebar.open");
  await page.waitForFunction(() => document.getElementById("sidebar")!.getBoundingClientRect().left >= 0); // slid in
  await onScreen(page, "#open-room");
  // The name, whole, and the way to change it, in the drawer.
  await onScreen(page, "#rename");
  expect(await page.textContent("#me")).toBe("ada");
  await onScreen(page, '#online .person');
  await page.locator("#open-room").fill("elsewhere");
  await page.locator("#open-form button").tap();
  await page.waitForURL(/\?room=elsewhere$/);
  await page.waitForSelector("#sidebar", { state: "hidden" });
  await page.waitForSelector('#conn[data-state="online"]');
  expect(await noHorizontalScroll(page)).toBe(true);
  expect(pageErrors).toEqual([]);
}, 60_000);

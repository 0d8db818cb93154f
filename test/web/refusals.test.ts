// Refusals in words and the verified mark live, in real Chromium against the compiled binary
// with verified joins on (CHAT_AUTH_SECRET): the page says why in words and does not reconnect.
import { Database } from "bun:sqlite";
import { expect, test } from "bun:test";
import { join as joinPath } from "node:path";
import { SignJWT } from "jose";
import type { Page } from "playwright-core";
import { join, online, openPage, pageErrors, say, scratchDir, serve, useBrowser, waitText } from "./browser";

useBrowser();

const SECRET = "a-test-secret-of-at-least-32-bytes-0123456789";
const sign = (claims: { sub: string; name?: string; rooms?: string[] }) =>
  new SignJWT({ ...(claims.name ? { name: claims.name } : {}), ...(claims.rooms ? { rooms: claims.rooms } : {}) })
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(claims.sub)
    .setExpirationTime("1h")
    .sign(new TextEncoder().encode(SECRET));

/** Counts the sockets the page opens, to show that a refusal is not retried. */
function countSockets(page: Page) {
  const opened = { count: 0 };
  page.on("websocket", () => opened.count++);
  return opened;
}

/** The refusal in words, the connection closed, and after a while still one socket only. */
async function refusedWith(page: Page, words: string, opened: { count: number }) {
  await page.waitForSelector(`#error:has-text("${words}")`);
  await page.waitForSelector('#conn[data-state="closed"]');
  // The page's reconnects come within its backoff's first steps (250 ms, 500 ms, ...): a second
  // socket would have opened within this second.
  await page.waitForTimeout(1000);
  expect(opened.count).toBe(1);
}

test("no token where one is needed: 'This room needs you to sign in', no reconnect", async () => {
  const server = await serve({ env: { CHAT_AUTH_SECRET: SECRET, CHAT_ANONYMOUS: "false" } });
  const page = await openPage();
  const opened = countSockets(page);
  await page.goto(`${server.base}/?room=lobby`);
  await page.getByLabel("Your name").fill("guest");
  await page.getByRole("button", { name: "Join" }).click();
  await refusedWith(page, "This room needs you to sign in", opened);
  expect(pageErrors).toEqual([]);
});

test("an expired token: 'This room needs you to sign in', no reconnect", async () => {
  const server = await serve({ env: { CHAT_AUTH_SECRET: SECRET } });
  const expired = await new SignJWT({ name: "ada" }).setProtectedHeader({ alg: "HS256" }).setSubject("u-ada").setExpirationTime(Math.floor(Date.now() / 1000) - 60).sign(new TextEncoder().encode(SECRET));
  const page = await openPage();
  const opened = countSockets(page);
  await page.goto(`${server.base}/#lobby&token=${expired}`);
  await refusedWith(page, "This room needs you to sign in", opened);
});

test("a token for other rooms: 'You are not allowed in this room'", async () => {
  const server = await serve({ env: { CHAT_AUTH_SECRET: SECRET } });
  const token = await sign({ sub: "u-ada", name: "ada", rooms: ["team-*"] });
  const page = await openPage();
  const opened = countSockets(page);
  await page.goto(`${server.base}/#lobby&token=${token}`);
  await refusedWith(page, "You are not allowed in this room", opened);
});

test("a banned user: 'You are banned from this room'", async () => {
  const cwd = scratchDir();
  const first = await serve({ cwd, env: { CHAT_AUTH_SECRET: SECRET } });
  first.proc.kill("SIGTERM");
  await first.proc.exited;
  const db = new Database(joinPath(cwd, "chat.db"));
  db.run("INSERT INTO bans (room, user_id, reason, until, created_at) VALUES ('lobby', 'u-ada', 'spam', NULL, ?)", [Date.now()]);
  db.close();
  const server = await serve({ cwd, env: { CHAT_AUTH_SECRET: SECRET } });
  const token = await sign({ sub: "u-ada", name: "ada" });
  const page = await openPage();
  const opened = countSockets(page);
  await page.goto(`${server.base}/#lobby&token=${token}`);
  await refusedWith(page, "You are banned from this room", opened);
});

const KEY = "an-api-key-for-the-refusal-tests-0123456789";

/** A call of the server API as an app's backend makes it. */
async function api(base: string, method: string, path: string, body?: unknown) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${KEY}`, ...(body !== undefined && { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, json: await response.json().catch(() => undefined) };
}

/** A signed-in page online in the lobby, with a count of the sockets it opens. */
async function signedInPage(base: string, sub: string, name: string) {
  const page = await openPage();
  const opened = countSockets(page);
  await page.goto(`${base}/#lobby&token=${await sign({ sub, name })}`);
  await online(page);
  expect(opened.count).toBe(1);
  return { page, opened };
}

test("live: the app kicks a signed-in user through /api: 'You were removed from this room', no reconnect", async () => {
  const server = await serve({ env: { CHAT_AUTH_SECRET: SECRET, CHAT_API_KEY: KEY } });
  const { page, opened } = await signedInPage(server.base, "u-ada", "ada");
  expect(await api(server.base, "POST", "/api/rooms/lobby/kick", { userId: "u-ada" })).toEqual({ status: 200, json: { closed: 1 } });
  await refusedWith(page, "You were removed from this room", opened);
  expect(pageErrors).toEqual([]);
});

test("live: the app bans a signed-in user through /api: 'You are banned from this room', no reconnect", async () => {
  const server = await serve({ env: { CHAT_AUTH_SECRET: SECRET, CHAT_API_KEY: KEY } });
  const { page, opened } = await signedInPage(server.base, "u-mal", "mallory");
  expect((await api(server.base, "PUT", "/api/rooms/lobby/bans/u-mal", { reason: "spam" })).status).toBe(204);
  await refusedWith(page, "You are banned from this room", opened);
  expect(pageErrors).toEqual([]);
});

test("live: a signed-in user's messages carry the mark for others; an anonymous namesake's do not", async () => {
  const server = await serve({ env: { CHAT_AUTH_SECRET: SECRET } });
  const ada = await openPage();
  await ada.goto(`${server.base}/#lobby&token=${await sign({ sub: "u-ada", name: "ada" })}`);
  await online(ada);
  const fake = await openPage();
  await join(fake, server.base, "ada ✓");
  const reader = await openPage();
  await join(reader, server.base, "reader");
  await say(ada, "from the real ada");
  await say(fake, "from the fake one");
  await waitText(reader, "from the fake one");
  const marks = await reader.$$eval("#messages .msg", (items) => items.map((li) => [li.querySelector(".name")!.textContent, li.querySelectorAll(".verified").length]));
  expect(marks).toEqual([
    ["ada", 1],
    ["ada ✓", 0],
  ]);
  // The online list too: the verified ada marked, the imitation not.
  await reader.waitForFunction(() => document.querySelectorAll("#online .person-name").length === 3);
  const people = await reader.$$eval("#online .person-name", (names) => names.map((n) => [n.textContent, n.querySelectorAll(".verified").length]));
  expect(people).toEqual([
    ["ada", 1],
    ["ada ✓", 0],
    ["reader", 0],
  ]);
});

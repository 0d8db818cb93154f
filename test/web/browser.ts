// Real headless Chromium (Debian's) driven by playwright-core, against the compiled binary.
// One browser per test file; each test gets fresh contexts (no shared storage), closed after it.
import { afterAll, afterEach, beforeAll } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join as joinPath } from "node:path";
import type { Browser, BrowserContextOptions, Page } from "playwright-core";
import { startBinary } from "../helpers";
import { launch } from "./chromium";

export { freePort } from "./chromium";

let browser: Browser | undefined;
// Our own cleanup list: helpers.ts registers its afterEach when first imported, so it only runs
// in the first test file of a run; later files would leave their servers running.
const cleanups: (() => unknown)[] = [];
const after = (fn: () => unknown) => void cleanups.push(fn);

/**
 * Call at the top of each test file. The browser is launched before the file's tests, not inside
 * one (bun test kills what a test leaves running); hooks per file, as this module loads once.
 */
export function useBrowser() {
  beforeAll(async () => {
    browser = await launch();
  });
  afterEach(async () => {
    while (cleanups.length) await cleanups.pop()!();
  });
  afterAll(async () => {
    await browser?.close();
    browser = undefined;
  });
}

/** An empty temp folder, removed after the test. */
export function scratchDir(): string {
  const dir = mkdtempSync(joinPath(tmpdir(), "chat-web-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The compiled binary (startBinary) in an empty folder, killed after the test. */
export async function serve(options: Parameters<typeof startBinary>[0] = {}) {
  const server = await startBinary({ ...options, cwd: options.cwd ?? scratchDir() });
  after(() => {
    server.proc.kill("SIGKILL");
    return server.proc.exited;
  });
  return server;
}

/** A fresh page in a fresh context (its own localStorage), closed after the test. */
export async function openPage(options: BrowserContextOptions = {}): Promise<Page> {
  const context = await browser!.newContext(options);
  after(() => context.close());
  const page = await context.newPage();
  page.on("pageerror", (error) => pageErrors.push(String(error)));
  return page;
}

/** Uncaught errors of every page opened so far: tests expect it to stay empty. */
export const pageErrors: string[] = [];

/** Goes to the room and joins with a name through the join screen. */
export async function join(page: Page, base: string, name: string, room = "lobby") {
  await page.goto(`${base}/?room=${room}`);
  await page.getByLabel("Your name").fill(name);
  await page.getByRole("button", { name: "Join" }).click();
  await online(page);
}

export const online = (page: Page) => page.waitForSelector('#conn[data-state="online"]');

/** Types a message and presses Enter. */
export async function say(page: Page, text: string) {
  const box = page.getByLabel("Message", { exact: true });
  await box.fill(text);
  await box.press("Enter");
}

/** The texts of the messages shown, in order. */
export const texts = (page: Page) => page.$$eval("#messages .msg .text", (nodes) => nodes.map((n) => n.textContent));

/** Waits until the page shows a message with exactly this text. */
export async function waitText(page: Page, text: string, timeout = 10_000) {
  await page.waitForFunction((t) => [...document.querySelectorAll("#messages .msg .text")].some((n) => n.textContent === t), text, { timeout });
}

/**
 * The page's room sockets through a switch: while a room is cut off, its sockets are closed and
 * new ones refused (as when the server is unreachable), while HTTP keeps working, so the page
 * can still be reloaded. Sockets of rooms not cut off go to the real server untouched.
 */
export async function socketSwitch(page: Page) {
  const cut = new Set<string>();
  const open: { room: string; close: () => void }[] = [];
  await page.context().routeWebSocket(/\/rooms\/[^/]+\/ws$/, (ws) => {
    const room = decodeURIComponent(new URL(ws.url()).pathname.split("/")[2]!);
    if (cut.has(room) || cut.has("*")) return ws.close({ code: 4000, reason: "cut off by the test" });
    const server = ws.connectToServer();
    open.push({
      room,
      close: () => {
        ws.close({ code: 4000, reason: "cut off by the test" });
        server.close();
      },
    });
  });
  return {
    /** Cuts these rooms off ("*": all), closing their open sockets. */
    cut(...rooms: string[]) {
      for (const room of rooms) cut.add(room);
      for (const socket of open.splice(0)) {
        if (cut.has(socket.room) || cut.has("*")) socket.close();
        else open.push(socket);
      }
    },
    restore(...rooms: string[]) {
      for (const room of rooms) cut.delete(room);
    },
  };
}

/** What the server stored in a room, oldest first. */
export async function stored(base: string, room: string): Promise<{ id: number; name: string; message: string }[]> {
  const res = await fetch(`${base}/rooms/${room}/messages?limit=200`);
  return ((await res.json()) as { messages: { id: number; name: string; message: string }[] }).messages;
}

// Writes public/screenshot.png (and -phone.png) for the README: the compiled binary in a temp folder, a short
// conversation, the page in Chromium. Run after `npm run build`: `bun test/web/screenshot.ts`.
// (The PNG is for the README only; no app code imports it, so it is not in the binary.)
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { launch } from "./chromium";

const root = join(import.meta.dir, "..", "..");
// SHOTS=all also writes the other two combinations (desktop dark, phone light) to /tmp, to look at.
const out = join(root, "public", "screenshot.png");
const cwd = mkdtempSync(join(tmpdir(), "chat-shot-"));
const server = Bun.spawn([join(root, "chat-server"), "--port", "0", "--host", "127.0.0.1", "--rate-limit", "0"], { cwd, stderr: "pipe" });

try {
  const base = await listening(server.stderr);
  const ws = (room: string) => `${base.replace("http", "ws")}/rooms/${room}/ws`;
  // Other rooms, so the room list has something to show.
  const others = [await person(ws("random"), "lin"), await person(ws("release-1.2"), "grace")];
  await others[1]!.say("Release notes draft is up.");
  const talk: [string, string][] = [
    ["grace", "Morning! Is the 1.2 build ready to try?"],
    ["lin", "Almost. The binary is 110 MB, runs from an empty folder and creates chat.db by itself."],
    ["lin", "Restarting it now to check the reconnect."],
    ["grace", "Both my tabs came back and nothing was missing."],
    ["ada", "Same here. Scrolling up loads the older history too."],
    ["grace", "Ship it? Notes: https://example.com/release-1.2"],
    ["lin", "@ada can you do the tag?"],
  ];
  const people = new Map<string, Awaited<ReturnType<typeof person>>>();
  for (const [name] of talk) if (!people.has(name)) people.set(name, await person(ws("lobby"), name));
  for (const [name, text] of talk) await people.get(name)!.say(text);

  const browser = await launch();
  // Desktop in the light theme, and a phone in the dark one.
  const shots = [
    { path: out, viewport: { width: 1100, height: 640 }, colorScheme: "light" as const },
    { path: out.replace(".png", "-phone.png"), viewport: { width: 390, height: 700 }, colorScheme: "dark" as const, isMobile: true, hasTouch: true },
    ...(process.env.SHOTS === "all"
      ? [
          { path: "/tmp/chat-desktop-dark.png", viewport: { width: 1100, height: 640 }, colorScheme: "dark" as const },
          { path: "/tmp/chat-phone-light.png", viewport: { width: 390, height: 700 }, colorScheme: "light" as const, isMobile: true, hasTouch: true },
        ]
      : []),
  ];
  for (const { path, ...options } of shots) {
    const page = await browser.newPage({ deviceScaleFactor: 1, ...options });
    await page.goto(`${base}/?room=lobby`);
    await page.evaluate(() => localStorage.setItem("chat.name", "ada"));
    await page.reload();
    await page.waitForSelector('#conn[data-state="online"]');
    await page.waitForFunction(() => document.querySelectorAll("#messages .msg").length === 7);
    await page.locator("#text").fill("On it. Tagging now");
    await page.waitForSelector('#rooms a[data-room="random"]', { state: "attached" });
    await page.waitForFunction(() => document.querySelectorAll("#online .person").length === 3);
    await page.screenshot({ path });
    await page.close();
    console.log(`wrote ${path}`);
  }
  await browser.close();
  for (const p of [...people.values(), ...others]) p.close();
} finally {
  server.kill();
  await server.exited;
  rmSync(cwd, { recursive: true, force: true });
}

async function listening(stderr: ReadableStream<Uint8Array>): Promise<string> {
  let text = "";
  for await (const chunk of stderr) {
    text += new TextDecoder().decode(chunk);
    const match = /"event":"listening","url":"([^"]+)"/.exec(text);
    if (match) return match[1]!.replace(/\/$/, "");
  }
  throw new Error(`chat-server did not start:\n${text}`);
}

/** A raw socket that joins and can say things, waiting for each ack. */
async function person(url: string, name: string) {
  const socket = new WebSocket(url);
  const frames: any[] = [];
  let wake = () => {};
  socket.onmessage = (e) => {
    frames.push(JSON.parse(String(e.data)));
    wake();
  };
  const until = async (match: (f: any) => boolean) => {
    while (!frames.some(match)) await new Promise<void>((resolve) => (wake = resolve));
  };
  await new Promise((resolve) => (socket.onopen = resolve));
  socket.send(JSON.stringify({ type: "join", name }));
  await until((f) => f.type === "joined" && f.name === name);
  let n = 0;
  return {
    async say(message: string) {
      const clientId = `${name}-${++n}`;
      socket.send(JSON.stringify({ type: "message", message, clientId }));
      await until((f) => f.type === "message" && f.clientId === clientId);
    },
    close: () => socket.close(),
  };
}

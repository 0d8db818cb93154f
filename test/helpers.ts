// Tiny helpers for talking to a real server over real sockets. No sleeps: every wait is for an
// event (a frame, a close), bounded by a timeout that fails the test.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApp, type AppOptions } from "../src/http/app";
import { serve } from "../src/http/serve";
import { ServerFrame } from "../src/protocol/frames";
import { openSqliteStore } from "../src/store/sqlite";

import { defer } from "./setup";

export { defer };

export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "chat-test-"));
  defer(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export type TestServer = Awaited<ReturnType<typeof startServer>>;

/** The real app on port 0 over a real SQLite file; stopped after the test. */
export async function startServer(options: Partial<AppOptions> & { db?: string } = {}) {
  const db = options.db ?? join(tempDir(), "chat.db");
  const store = options.store ?? openSqliteStore(db);
  const app = serve(createApp({ ...options, store }).app, { port: 0, hostname: "127.0.0.1" });
  const base = `http://127.0.0.1:${app.server!.port}`;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await app.stop(true);
    await store.close();
  };
  defer(stop);
  return { app, store, db, base, wsUrl: (room: string) => `${base.replace("http", "ws")}/rooms/${room}/ws`, stop };
}

export class Client {
  readonly frames: any[] = [];
  private waiters: (() => void)[] = [];
  closed?: { code: number; reason: string };
  private cursor = 0;
  /** The first frame that broke the contract's ServerFrame schema: it fails the test. */
  private offContract?: Error;

  constructor(readonly ws: WebSocket) {
    ws.addEventListener("message", (e) => {
      const frame = JSON.parse(String(e.data));
      const checked = ServerFrame.safeParse(frame);
      if (!checked.success) this.offContract ??= new Error(`a frame off the contract: ${JSON.stringify(frame)}: ${JSON.stringify(checked.error.issues)}`);
      this.frames.push(frame);
      this.wake();
    });
    ws.addEventListener("close", (e) => {
      this.closed = { code: e.code, reason: e.reason };
      this.wake();
    });
  }

  static async open(url: string, init?: { headers?: Record<string, string> }): Promise<Client> {
    const ws = new WebSocket(url, init as any);
    const client = new Client(ws);
    defer(() => {
      ws.close();
      client.checkContract();
    });
    await new Promise<void>((resolve, reject) => {
      ws.addEventListener("open", () => resolve(), { once: true });
      ws.addEventListener("error", () => reject(new Error(`could not connect to ${url}`)), { once: true });
    });
    return client;
  }

  /** Opens, joins, and consumes the history and its own joined frame. */
  static async joined(url: string, name: string, extra: Record<string, unknown> = {}) {
    const client = await Client.open(url);
    client.send({ type: "join", name, ...extra });
    const history = await client.next("history");
    await client.next("joined", (f) => f.name === name.trim());
    return Object.assign(client, { history: history.messages as any[] });
  }

  private wake() {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  send(frame: unknown) {
    this.ws.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  }

  /** Every frame the server sent parses with the contract's ServerFrame schema (checked after each test too). */
  checkContract() {
    if (this.offContract) throw this.offContract;
  }

  /** The next frame (of a type, matching a predicate), consuming frames up to it. */
  async next<T extends ServerFrame["type"]>(type?: T, match: (f: any) => boolean = () => true, timeoutMs = 5000): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      this.checkContract();
      while (this.cursor < this.frames.length) {
        const frame = this.frames[this.cursor++];
        if ((type === undefined || frame.type === type) && match(frame)) return frame;
      }
      if (this.closed) throw new Error(`socket closed (${this.closed.code}) while waiting for ${type ?? "a frame"}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${type ?? "a frame"}; got ${JSON.stringify(this.frames.slice(-5))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Resolves with the close event once the server (or we) closed the socket. */
  async waitClose(timeoutMs = 5000): Promise<{ code: number; reason: string }> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error("timed out waiting for close");
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.closed;
  }

  /** Frames received so far and not consumed by next(). */
  get unread() {
    return this.frames.slice(this.cursor);
  }

  close() {
    this.ws.close();
  }
}

export const BINARY = join(import.meta.dir, "..", "chat-server");

export type RunningBinary = Awaited<ReturnType<typeof startBinary>>;

/**
 * Starts the compiled ./chat-server (built by `npm test` before bun test runs) in `cwd` (a fresh
 * empty temp folder by default) on a free port, and waits for its "listening" log line.
 * Killed after the test unless stopped before.
 */
export async function startBinary(options: { cwd?: string; env?: Record<string, string>; args?: string[]; maxOpenFiles?: number } = {}) {
  const cwd = options.cwd ?? tempDir();
  // `ulimit -n` then exec: the server keeps the shell's pid, with that soft limit on descriptors.
  const command = options.maxOpenFiles === undefined ? [BINARY] : ["bash", "-c", `ulimit -n ${options.maxOpenFiles} && exec "$0" "$@"`, BINARY];
  const proc = Bun.spawn([...command, ...(options.args ?? [])], {
    cwd,
    env: { PATH: process.env.PATH ?? "", PORT: "0", HOST: "127.0.0.1", CHAT_LOG_LEVEL: "info", ...options.env },
    stdout: "pipe",
    stderr: "pipe",
  });
  defer(() => proc.kill("SIGKILL"));
  const lines: string[] = [];
  const reader = proc.stderr.getReader();
  const decoder = new TextDecoder();
  let buffered = "";
  let listening: ((url: string) => void) | undefined;
  const url = new Promise<string>((resolve) => (listening = resolve));
  (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffered += decoder.decode(value, { stream: true });
      let nl: number;
      while ((nl = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        lines.push(line);
        try {
          const entry = JSON.parse(line);
          if (entry.event === "listening") listening!(entry.url);
        } catch {}
      }
    }
  })();
  const exited = proc.exited.then((code) => {
    throw new Error(`chat-server exited (${code}) before listening:\n${lines.join("\n")}`);
  });
  exited.catch(() => {}); // after start-up, an exit is the test's business, not an error here
  const href = await Promise.race([url, exited]);
  const port = new URL(href).port;
  const base = `http://127.0.0.1:${port}`;
  return { proc, cwd, base, lines, wsUrl: (room: string) => `ws://127.0.0.1:${port}/rooms/${room}/ws` };
}

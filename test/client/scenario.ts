// A conversation across a server restart, run by the Bun tests in-process and, bundled to JS, by
// Node 20 (so no bun:test here). Every wait is for a client event, bounded by a timeout.
import { connect, type ChatClient, type ChatClientOptions, type ConnectionState, type Message } from "../../src/client/index.ts";

/** Records what a client delivers and lets a test wait for a condition on it. */
export function watch(client: ChatClient) {
  const seen: Message[] = [];
  const states: ConnectionState[] = [];
  const checks = new Set<() => void>();
  const wake = () => checks.forEach((check) => check());
  client.on("history", (messages) => {
    seen.push(...messages);
    wake();
  });
  client.on("message", ({ type, clientId, ...message }) => {
    seen.push(message);
    wake();
  });
  client.on("state", (state) => {
    states.push(state);
    wake();
  });
  client.on("joined", wake);
  client.on("left", wake);
  const until = (condition: () => boolean, what: string, timeoutMs = 15_000) =>
    new Promise<void>((resolve, reject) => {
      if (condition()) return resolve();
      const check = () => {
        if (!condition()) return;
        done();
        resolve();
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out waiting for ${what} (state ${client.state}, ${seen.length} messages seen)`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        checks.delete(check);
      };
      checks.add(check);
    });
  return { client, seen, states, until };
}
export type Watched = ReturnType<typeof watch>;

/** The promise, or a rejection naming what did not happen in time. */
export function within<T>(promise: Promise<T>, what: string, timeoutMs = 15_000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs)));
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

export interface ConversationHooks {
  url: string;
  room: string;
  WebSocket?: ChatClientOptions["WebSocket"];
  /** Stop the server (SIGKILL or SIGTERM); resolves once it is gone. */
  crash(): Promise<void>;
  /** Start it again on the same port and database. */
  restart(): Promise<void>;
  perPhase?: number;
}

/**
 * Two clients talk; each phase sends `perPhase` messages from each. Phase 1 completes before
 * the crash; phase 2 is in flight when the server dies; phase 3 is sent while it is down.
 */
export async function conversation(hooks: ConversationHooks) {
  const n = hooks.perPhase ?? 10;
  const options = { url: hooks.url, room: hooks.room, WebSocket: hooks.WebSocket, backoff: { initialMs: 50, maxMs: 400 } };
  const ann = watch(connect({ ...options, name: "ann" }));
  const ben = watch(connect({ ...options, name: "ben" }));
  const both = [ann, ben];
  try {
    const online = (w: Watched) => w.until(() => w.client.state === "online", "online");
    await Promise.all(both.map(online));
    const sends: Promise<Message>[] = [];
    const phase = (p: number) => {
      const out: Promise<Message>[] = [];
      for (let i = 0; i < n; i++) for (const w of both) out.push(w.client.send(`${w === ann ? "ann" : "ben"} ${p}.${i}`));
      sends.push(...out);
      return out;
    };
    await Promise.all(phase(1));
    phase(2);
    await hooks.crash();
    await Promise.all(both.map((w) => w.until(() => w.client.state === "reconnecting", "reconnecting after the crash")));
    phase(3);
    await hooks.restart();
    const acked = await within(Promise.all(sends), "every send acknowledged");
    // A last message: once both have it, everything sent before it has been delivered (or never
    // will be), so a late duplicate cannot slip past the checks.
    const end = await ann.client.send("end");
    await Promise.all(both.map((w) => w.until(() => w.seen.some((m) => m.id === end.id), "the end message")));
    return { acked: [...acked, end], ann: ann.seen, ben: ben.seen, states: { ann: ann.states, ben: ben.states } };
  } finally {
    for (const w of both) w.client.close();
  }
}

// The typed client under Bun against the compiled binary (`npm run build` first).
import { describe, expect, test } from "bun:test";
import { Backoff } from "../../src/client/backoff";
import { api, ChatError, connect, type ChatClientOptions } from "../../src/client/index";
import { defer, startBinary, tempDir } from "../helpers";
import { expectWholeConversation, freePort } from "./check";
import { conversation, watch } from "./scenario";

const fast = { backoff: { initialMs: 50, maxMs: 400 } };

/** The binary on a fixed port and folder, so that it can be killed and started again. */
async function restartable(env: Record<string, string> = {}) {
  const cwd = tempDir();
  const args = ["--port", String(await freePort())];
  let server = await startBinary({ cwd, env, args });
  return {
    base: server.base,
    async crash(signal: "SIGKILL" | "SIGTERM") {
      server.proc.kill(signal);
      await server.proc.exited;
    },
    async restart() {
      server = await startBinary({ cwd, env, args });
    },
  };
}

function open(options: Omit<ChatClientOptions, "backoff"> & Partial<ChatClientOptions>) {
  const w = watch(connect({ ...fast, ...options }));
  defer(() => w.client.close());
  return w;
}

const stored = async (base: string, room: string) => {
  const { data, error } = await api(base).rooms({ room }).messages.get({ query: { limit: 200 } });
  if (error) throw error;
  return data.messages;
};

describe("client under Bun, against the binary", () => {
  test("two clients chat; a send made before the join is queued; presence and left", async () => {
    const server = await startBinary();
    const ann = open({ url: server.base, room: "lobby", name: "ann" });
    const early = ann.client.send("sent while connecting"); // queued: not online yet
    expect(ann.client.state).toBe("connecting");
    await ann.until(() => ann.client.state === "online", "ann online");
    const first = await early;
    expect(first).toMatchObject({ room: "lobby", name: "ann", message: "sent while connecting" });
    expect(ann.client.lastId).toBe(first.id);

    const ben = open({ url: server.base, room: "lobby", name: "ben" });
    await ben.until(() => ben.client.state === "online", "ben online");
    expect(ben.seen).toEqual([first]); // the history
    await ann.until(() => ann.client.online.includes("ben"), "ann sees ben");
    expect(ben.client.online.sort()).toEqual(["ann", "ben"]);

    const reply = await ben.client.send("hello ann");
    await ann.until(() => ann.seen.some((m) => m.id === reply.id), "ann gets the reply");
    expect(ann.seen).toEqual([first, reply]);
    expect(ben.seen).toEqual([first, reply]);

    const left = new Promise((resolve) => ann.client.on("left", resolve));
    ben.client.close();
    expect(ben.client.state).toBe("closed");
    expect(await left).toMatchObject({ type: "left", name: "ben", online: ["ann"] });
    await expect(ben.client.send("after close")).rejects.toMatchObject({ code: "closed" });
  });

  test("Eden's treaty<App>: typed REST and the typed room socket work against the binary", async () => {
    const server = await startBinary();
    const eden = api(server.base);
    const socket = eden.rooms({ room: "eden" }).ws.subscribe();
    defer(() => socket.close());
    const frames: string[] = [];
    const acked = new Promise<number>((resolve) =>
      socket.subscribe(({ data }) => {
        frames.push(data.type);
        if (data.type === "joined") socket.send({ type: "message", message: "via eden", clientId: "e1" });
        if (data.type === "message" && data.clientId === "e1") resolve(data.id);
      }),
    );
    socket.on("open", () => socket.send({ type: "join", name: "eve" }));
    const id = await acked;
    expect(frames).toEqual(["history", "joined", "message"]);
    const { data: page } = await eden.rooms({ room: "eden" }).messages.get({ query: { limit: 5 } });
    expect(page!.messages.map((m) => [m.id, m.message])).toEqual([[id, "via eden"]]);
    const { data: list } = await eden.rooms.get();
    expect(list!.rooms).toContainEqual({ room: "eden", online: 1, lastMessageAt: expect.any(Number) });
  });

  for (const signal of ["SIGKILL", "SIGTERM"] as const) {
    test(`server ${signal}ed and restarted mid-conversation: nothing lost, nothing twice, order kept`, async () => {
      const server = await restartable({ CHAT_RATE_LIMIT: "0" });
      const result = await conversation({ url: server.base, room: "restart", crash: () => server.crash(signal), restart: server.restart });
      expect(result.states.ann).toContain("reconnecting");
      expectWholeConversation(result, await stored(server.base, "restart"), 10);
    }, 30_000);
  }

  test("a message stored while its ack was lost is re-sent, acked once, and shown once", async () => {
    const server = await startBinary();
    // The injected constructor lets the test cut the client's socket at a chosen moment.
    const sockets: WebSocket[] = [];
    class Tracked extends WebSocket {
      constructor(url: string) {
        super(url);
        sockets.push(this);
      }
    }
    const ann = open({ url: server.base, room: "lost-ack", name: "ann", WebSocket: Tracked });
    await ann.until(() => ann.client.state === "online", "online");
    const sending = ann.client.send("stored, ack lost");
    sockets.at(-1)!.close(); // the frame went out first: the server stores it, the ack has nowhere to go
    const ack = await sending;
    expect(sockets.length).toBe(2);
    expect(await stored(server.base, "lost-ack")).toEqual([ack]);
    const probe = await ann.client.send("probe"); // everything before it has been delivered by now
    await ann.until(() => ann.seen.some((m) => m.id === probe.id), "the probe");
    expect(ann.seen).toEqual([ack, probe]);
  });

  test("resuming past the server's history limit fills the gap over REST", async () => {
    const server = await startBinary({ env: { CHAT_RATE_LIMIT: "0", CHAT_HISTORY: "5" } });
    const writer = open({ url: server.base, room: "gap", name: "w" });
    const sent = await Promise.all(Array.from({ length: 30 }, (_, i) => writer.client.send(`m${i}`)));
    // A reader that last saw m2: the server's history holds only the 5 after it.
    const reader = open({ url: server.base, room: "gap", name: "r", since: sent[2]!.id });
    await reader.until(() => reader.client.state === "online", "reader online");
    expect(reader.seen).toEqual(sent.slice(3));
    const more = await writer.client.send("live");
    await reader.until(() => reader.seen.length === 28, "the live message");
    expect(reader.seen.at(-1)).toEqual(more);
    expect(reader.client.lastId).toBe(more.id);
  });

  test("refused sends reject with the server's code; local checks; close rejects what is pending", async () => {
    const server = await startBinary({ env: { CHAT_RATE_LIMIT: "1", CHAT_RATE_BURST: "2" } });
    const ann = open({ url: server.base, room: "errors", name: "ann" });
    await ann.until(() => ann.client.state === "online", "online");
    const results = await Promise.allSettled(Array.from({ length: 5 }, (_, i) => ann.client.send(`burst ${i}`)));
    expect(results.filter((r) => r.status === "fulfilled").length).toBe(2);
    for (const r of results.slice(2)) {
      expect(r.status).toBe("rejected");
      const error = (r as PromiseRejectedResult).reason;
      expect(error).toBeInstanceOf(ChatError);
      expect(error.code).toBe("rate_limited");
      expect(error.retryAfter).toBeGreaterThan(0);
    }
    await expect(ann.client.send("x".repeat(2001))).rejects.toMatchObject({ code: "too_long" });
    await expect(ann.client.send("")).rejects.toMatchObject({ code: "bad_frame" });
    await expect(ann.client.send("bell\u0007")).rejects.toMatchObject({ code: "bad_frame" });
    await expect(ann.client.send("half \ud83d")).rejects.toMatchObject({ code: "bad_frame" });
    await expect(ann.client.send("ok", { clientId: "c\udc00" })).rejects.toMatchObject({ code: "bad_frame" });
    const pending = ann.client.send("never acked");
    ann.client.close();
    await expect(pending).rejects.toMatchObject({ code: "closed" });
  });

  test("an ack that does not come in time rejects with timeout", async () => {
    // The server is stopped (SIGSTOP) so the socket stays open but nothing answers.
    const server = await startBinary();
    const ann = open({ url: server.base, room: "slow", name: "ann", ackTimeoutMs: 200 });
    await ann.until(() => ann.client.state === "online", "online");
    server.proc.kill("SIGSTOP");
    defer(() => server.proc.kill("SIGCONT"));
    await expect(ann.client.send("into the void")).rejects.toMatchObject({ code: "timeout" });
  });

  test("after a 1008 policy close the client waits at least half of maxMs before coming back", async () => {
    const server = await startBinary({ env: { CHAT_RATE_LIMIT: "1", CHAT_RATE_BURST: "1" } });
    const ann = open({ url: server.base, room: "flood", name: "ann" });
    await ann.until(() => ann.client.state === "online", "online");
    let droppedAt = 0;
    ann.client.on("state", (state) => {
      if (state === "reconnecting") droppedAt = performance.now();
    });
    // 1 allowed, then 20 refusals in a row: the server closes the socket 1008.
    const sends = Array.from({ length: 25 }, (_, i) => ann.client.send(`flood ${i}`).catch((e: ChatError) => e.code));
    await ann.until(() => droppedAt > 0, "the policy close");
    await ann.until(() => ann.client.state === "online", "back online", 5000);
    expect(performance.now() - droppedAt).toBeGreaterThanOrEqual(200); // maxMs 400 / 2
    const outcomes = await Promise.all(sends);
    expect(outcomes.filter((o) => o === "rate_limited").length).toBeGreaterThanOrEqual(20);
  });
});

test("backoff: full jitter under an exponential ceiling, reset, policy penalty", () => {
  let r = 0.999;
  const b = new Backoff(100, 1000, () => r);
  expect([b.next(), b.next(), b.next(), b.next(), b.next()]).toEqual([99, 199, 399, 799, 999]);
  r = 0;
  expect(b.next()).toBe(0); // full jitter: anywhere from 0
  b.reset();
  r = 0.999;
  expect(b.next()).toBe(99);
  r = 0;
  expect(b.penalty()).toBe(500);
});

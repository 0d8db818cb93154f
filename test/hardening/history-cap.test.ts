// Issue 11, item 5, against the compiled binary: a history frame holds at most 256 KiB of
// messages (as serialized). 100 messages of 2,000 U+0001 made a 1.2 MB history frame, over the
// 1 MiB slow-consumer limit, so every joiner was closed right after joining. Such messages are
// refused now; rooms that already hold them, or messages that escape big ('"' and '\' double),
// still give a history frame within the cap: a join keeps the newest, a resume keeps the oldest
// after `since` and the client pages forward over REST, so nothing is skipped.
import { Database } from "bun:sqlite";
import { expect, test } from "bun:test";
import { join } from "node:path";
import { connect, type Message } from "../../src/client/index";
import { Client, defer, startBinary, tempDir } from "../helpers";
import { watch } from "../client/scenario";

const CAP = 256 * 1024;
const bytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value));

/** A history frame checked against the cap: its messages are a run of consecutive stored ones. */
function checkedHistory(frame: any, stored: Message[]) {
  expect(frame.type).toBe("history");
  const messages: Message[] = frame.messages;
  expect(messages.length).toBeGreaterThan(0);
  expect(bytes(messages)).toBeLessThanOrEqual(CAP);
  expect(bytes(frame)).toBeLessThanOrEqual(CAP + 1024); // the envelope: type, online
  const first = stored.findIndex((m) => m.id === messages[0]!.id);
  expect(messages).toEqual(stored.slice(first, first + messages.length));
  return messages;
}

async function allStored(base: string, room: string): Promise<Message[]> {
  const all: Message[] = [];
  for (let after = 0; ; ) {
    const { messages } = (await (await fetch(`${base}/rooms/${room}/messages?after=${after}&limit=200`)).json()) as { messages: Message[] };
    all.push(...messages);
    if (messages.length < 200) return all;
    after = messages.at(-1)!.id;
  }
}

test("binary: messages that escape big give a history frame of at most 256 KiB, the newest; the joiner stays open", async () => {
  const server = await startBinary({ env: { CHAT_RATE_LIMIT: "0", CHAT_JOIN_RATE: "0" } });
  const url = server.wsUrl("quotes");
  const writer = await Client.joined(url, "writer");
  // 100 messages of 2,000 '"' or '\', each ~4 KB in JSON: ~400 KB for the default 100 of history.
  for (let i = 0; i < 100; i++) writer.send({ type: "message", message: (i % 2 ? '"' : "\\").repeat(2000), clientId: `q${i}` });
  await writer.next("message", (f) => f.clientId === "q99", 15_000);
  const stored = await allStored(server.base, "quotes");
  expect(stored.length).toBe(100);
  expect(bytes(stored)).toBeGreaterThan(CAP * 1.5);

  const joiner = await Client.open(url);
  joiner.send({ type: "join", name: "joiner" });
  const history = checkedHistory(await joiner.next("history"), stored);
  expect(history.at(-1)).toEqual(stored.at(-1)!); // the newest are kept, the oldest left out
  expect(history.length).toBeLessThan(100);
  expect(history.length).toBeGreaterThan(55); // as many as fit: 256 KiB / ~4.1 KB
  // Still open, and in the room: its own message comes back.
  joiner.send({ type: "message", message: "here", clientId: "j1" });
  expect((await joiner.next("message", (f) => f.clientId === "j1")).message).toBe("here");
  expect(joiner.closed).toBeUndefined();
});

test("binary: a room that already holds 100 messages of 2,000 U+0001 (1.2 MB of history) is joined and resumed within the cap, gap-free", async () => {
  // Stored before the rule existed: written into the database file while the server is down.
  const cwd = tempDir();
  const first = await startBinary({ cwd });
  first.proc.kill("SIGTERM");
  await first.proc.exited;
  const db = new Database(join(cwd, "chat.db"));
  const insert = db.prepare("INSERT INTO messages (room, name, message, timestamp) VALUES ('legacy', 'old', ?, ?)");
  db.transaction(() => {
    for (let i = 0; i < 100; i++) insert.run(`${i}:${"\u0001".repeat(2000)}`, 1_700_000_000_000 + i);
  })();
  db.close();

  const server = await startBinary({ cwd, env: { CHAT_JOIN_RATE: "0" } });
  const stored = await allStored(server.base, "legacy");
  expect(stored.length).toBe(100);
  expect(bytes(stored)).toBeGreaterThan(1_200_000);
  const url = server.wsUrl("legacy");

  // A join: the newest that fit (~21 of ~12 KB), and the joiner is not closed for it.
  const joiner = await Client.open(url);
  joiner.send({ type: "join", name: "joiner" });
  const latest = checkedHistory(await joiner.next("history"), stored);
  expect(latest.at(-1)!.id).toBe(stored.at(-1)!.id);
  expect(latest.length).toBeGreaterThanOrEqual(20);
  joiner.send({ type: "message", message: "new", clientId: "n1" });
  const fresh = await joiner.next("message", (f) => f.clientId === "n1");
  expect(joiner.closed).toBeUndefined();

  // A resume from the first message: the oldest after `since` that fit, not the newest, or the
  // messages between them would never reach the client.
  const resumer = await Client.open(url);
  resumer.send({ type: "join", name: "resumer", since: stored[0]!.id });
  const resumed = checkedHistory(await resumer.next("history"), stored);
  expect(resumed[0]).toEqual(stored[1]!);
  expect(resumed.length).toBeLessThan(99);

  // The typed client resumes the same way and pages forward over REST: every message once, in order.
  const reader = watch(connect({ url: server.base, room: "legacy", name: "reader", since: stored[0]!.id, WebSocket }));
  defer(() => reader.client.close());
  await reader.until(() => reader.client.state === "online", "the reader online");
  const { type, clientId, ...freshMessage } = fresh;
  expect(reader.seen).toEqual([...stored.slice(1), freshMessage]);
});

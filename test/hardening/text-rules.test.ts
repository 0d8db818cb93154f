// The text rules over real sockets, against the compiled binary: every invisible or look-alike
// character issue 11 found in names is refused with bad_frame, ordinary names in many scripts
// pass, lone surrogates are refused in names, messages and clientIds, and messages refuse the
// C0/C1 controls but tab and line feed. Nothing refused reaches the room or the database.
import { expect, test } from "bun:test";
import { isWellFormed } from "../../src/protocol/text";
import { Client, startBinary } from "../helpers";
import { INVISIBLE, ORDINARY } from "../protocol/text-cases";

// Refused frames take tokens from the address's bucket like messages (see rate-limit tests):
// a high limit keeps this test about the text rules. CHAT_JOIN_RATE: the same for joins.
const ENV = { CHAT_RATE_LIMIT: "1000", CHAT_RATE_BURST: "1000", CHAT_JOIN_RATE: "0" };

async function messagesOf(base: string, room: string): Promise<any[]> {
  return ((await (await fetch(`${base}/rooms/${room}/messages?limit=200`)).json()) as { messages: any[] }).messages;
}

test("binary: names with invisible or look-alike characters are bad_frame; ordinary names in many scripts join", async () => {
  const server = await startBinary({ env: ENV });
  const url = server.wsUrl("names");
  const watcher = await Client.joined(url, "watcher");

  // The list, each inside a name, plus 31 combining marks, a lone surrogate, a family emoji.
  const refused = [
    ...INVISIBLE.map(([, c]) => `ad${c}a`),
    `Zalgo${"\u0336".repeat(31)}`,
    "ad\ud800a",
    "ad\udc00",
    "👨\u200d👩\u200d👧",
    "ada\ufe0f",
    "\u2800",
    "\u3164",
  ];
  const prober = await Client.open(url);
  for (const name of refused) {
    prober.send({ type: "join", name });
    const error = await prober.next();
    expect([JSON.stringify(name), error.type, error.code]).toEqual([JSON.stringify(name), "error", "bad_frame"]);
  }
  // Refused means not joined: the socket may still join, under a good name.
  prober.send({ type: "join", name: "prober" });
  expect((await prober.next()).type).toBe("history");

  const joined: string[] = [];
  for (const name of ORDINARY) {
    const client = await Client.open(url);
    client.send({ type: "join", name: name.normalize("NFD") });
    const frame = await client.next("joined");
    expect(frame.name).toBe(name.normalize("NFC"));
    joined.push(frame.name);
    // Left open: presence would leave out a join and leave that came too fast to read.
  }
  await watcher.next("joined", (f) => f.name === joined.at(-1));
  const seen = watcher.frames.filter((f) => f.type === "joined").map((f) => f.name);
  expect(seen).toEqual(["watcher", "prober", ...joined]);
});

test("binary: lone surrogates are bad_frame in a name, a message and a clientId; nothing is stored", async () => {
  const server = await startBinary({ env: ENV });
  const url = server.wsUrl("surrogates");
  const ada = await Client.joined(url, "ada");
  const frames = [
    { type: "message", message: "hi \ud800 there", clientId: "s1" },
    { type: "message", message: "\udfff", clientId: "s2" },
    { type: "message", message: "a lone high at the end \ud83d", clientId: "s3" },
    { type: "message", message: "fine text", clientId: "c\ud800" },
  ];
  for (const frame of frames) {
    ada.send(frame);
    const error = await ada.next("error");
    expect(error.code).toBe("bad_frame");
    // A well-formed clientId comes back for the client to settle its send; a broken one does not.
    expect(error.clientId).toBe(isWellFormed(frame.clientId) ? frame.clientId : undefined);
  }
  const joiner = await Client.open(url);
  joiner.send({ type: "join", name: "bob\udc00" });
  expect((await joiner.next("error")).code).toBe("bad_frame");
  // A pair is one character like any other, and comes back as sent.
  ada.send({ type: "message", message: "pair 😀", clientId: "ok" });
  expect((await ada.next("message", (f) => f.clientId === "ok")).message).toBe("pair 😀");
  expect((await messagesOf(server.base, "surrogates")).map((m) => m.message)).toEqual(["pair 😀"]);
});

test("binary: messages refuse C0/C1 controls (carriage return too) but keep tab and line feed", async () => {
  const server = await startBinary({ env: ENV });
  const url = server.wsUrl("controls");
  const ada = await Client.joined(url, "ada");
  const controls = [...Array.from({ length: 0x20 }, (_, i) => i), ...Array.from({ length: 0x21 }, (_, i) => 0x7f + i)].filter((cp) => cp !== 0x09 && cp !== 0x0a);
  expect(controls.length).toBe(63);
  for (const cp of controls) {
    ada.send({ type: "message", message: `before${String.fromCharCode(cp)}after`, clientId: `cc${cp}` });
    const answer = await ada.next(undefined, (f) => f.clientId === `cc${cp}`);
    expect([cp, answer.type, answer.code]).toEqual([cp, "error", "bad_frame"]);
  }
  // The message that made 1.2 MB history frames: 2,000 U+0001, each escaped to six bytes.
  ada.send({ type: "message", message: "\u0001".repeat(2000), clientId: "x2000" });
  expect((await ada.next("error", (f) => f.clientId === "x2000")).code).toBe("bad_frame");

  const text = "line one\n\tindented\nline three";
  ada.send({ type: "message", message: text, clientId: "ok" });
  expect((await ada.next("message", (f) => f.clientId === "ok")).message).toBe(text);
  expect((await messagesOf(server.base, "controls")).map((m) => m.message)).toEqual([text]);
  expect(ada.closed).toBeUndefined();
});

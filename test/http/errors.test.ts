// PROTOCOL.md, `error`: a refused frame gets an error frame with a stable code; nothing of it is
// stored or broadcast; the socket and the room go on.
import { describe, expect, test } from "bun:test";
import { Client, startServer, type TestServer } from "../helpers";
import { say, storedRows } from "./lib";

/** ada (the one sending bad frames) and bob (watching the room), both joined. */
async function room(server?: TestServer) {
  server ??= await startServer();
  const url = server.wsUrl("errors");
  const ada = await Client.joined(url, "ada");
  const bob = await Client.joined(url, "bob");
  await ada.next("joined", (f) => f.name === "bob");
  return { server, ada, bob };
}

/** After a refusal: ada can still talk, bob hears only that, and the database holds only that. */
async function goesOn(server: TestServer, ada: Client, bob: Client) {
  const ok = await say(ada, "still fine");
  const heard = await bob.next("message", (f) => f.id === ok.id);
  expect(heard.message).toBe("still fine");
  expect(bob.frames.filter((f) => f.type === "message").map((f) => f.message)).toEqual(["still fine"]);
  expect(bob.frames.filter((f) => f.type === "error")).toEqual([]);
  expect(storedRows(server.db).map((r) => r.message)).toEqual(["still fine"]);
  expect(ada.closed).toBeUndefined();
}

async function refused(ada: Client, frame: unknown, code: string | string[]) {
  ada.send(frame);
  const error = await ada.next();
  expect(error.type).toBe("error");
  if (Array.isArray(code)) expect(code).toContain(error.code);
  else expect(error.code).toBe(code);
  expect(typeof error.message).toBe("string");
  expect(error.message.length).toBeGreaterThan(0);
  return error;
}

describe("bad_json", () => {
  for (const [what, text] of [
    ["plain text", "hello"],
    ["a truncated object", '{"type":"message","message":"hi"'],
    ["an object with a trailing comma", '{"type":"message","message":"hi",}'],
  ] as const) {
    test(`${what} is bad_json`, async () => {
      const { server, ada, bob } = await room();
      await refused(ada, text, "bad_json");
      await goesOn(server, ada, bob);
    });
  }

  test("JSON that is not an object is refused (bad_json or bad_frame)", async () => {
    const { server, ada, bob } = await room();
    for (const text of ["[1,2]", "42", "null", "true", '"a string"']) await refused(ada, text, ["bad_json", "bad_frame"]);
    await goesOn(server, ada, bob);
  });
});

describe("bad_frame", () => {
  const cases: [string, unknown][] = [
    ["a missing type", { message: "hi" }],
    ["an unknown type", { type: "shout", message: "hi" }],
    ["a non-string type", { type: 1, message: "hi" }],
    ["a missing message", { type: "message" }],
    ["a message that is a number", { type: "message", message: 42 }],
    ["an empty message", { type: "message", message: "" }],
    ["a clientId that is a number", { type: "message", message: "hi", clientId: 7 }],
    ["an empty clientId", { type: "message", message: "hi", clientId: "" }],
    ["a clientId over 64 characters", { type: "message", message: "hi", clientId: "k".repeat(65) }],
    ["a timestamp that is a string", { type: "message", message: "hi", timestamp: "now" }],
  ];
  for (const [what, frame] of cases) {
    test(`${what} is bad_frame`, async () => {
      const { server, ada, bob } = await room();
      await refused(ada, frame, "bad_frame");
      await goesOn(server, ada, bob);
    });
  }

  test("a binary frame is bad_frame, even when it holds a valid frame", async () => {
    const { server, ada, bob } = await room();
    ada.ws.send(new TextEncoder().encode(JSON.stringify({ type: "message", message: "in binary" })));
    const error = await ada.next();
    expect(error).toMatchObject({ type: "error", code: "bad_frame" });
    await goesOn(server, ada, bob);
  });

  test("a 64-character clientId is accepted", async () => {
    const { server, ada, bob } = await room();
    const clientId = "k".repeat(64);
    expect((await say(ada, "edge", clientId)).clientId).toBe(clientId);
    await bob.next("message");
    expect(storedRows(server.db).length).toBe(1);
  });
});

describe("bad join frames", () => {
  const names: [string, unknown][] = [
    ["a missing name", undefined],
    ["an empty name", ""],
    ["a blank name", "   "],
    ["a 33-character name", "n".repeat(33)],
    ["a name with a control character", "ad\u0007a"],
    ["a name with a newline", "ada\nbob"],
    ["a name that is a number", 7],
  ];
  for (const [what, name] of names) {
    test(`${what} is bad_frame, and the socket may join afterwards`, async () => {
      const server = await startServer();
      const url = server.wsUrl("errors");
      const bob = await Client.joined(url, "bob");
      const ada = await Client.open(url);
      await refused(ada, { type: "join", name }, "bad_frame");
      ada.send({ type: "join", name: "ada" });
      expect((await ada.next()).type).toBe("history");
      expect(await ada.next()).toMatchObject({ type: "joined", name: "ada", count: 2, online: ["bob", "ada"] });
      // bob saw one join only
      await bob.next("joined", (f) => f.name === "ada");
      expect(bob.frames.filter((f) => f.type === "joined").map((f) => f.name)).toEqual(["bob", "ada"]);
      await goesOn(server, ada, bob);
    });
  }

  test("a 32-character name is accepted", async () => {
    const server = await startServer();
    const name = "n".repeat(32);
    const ada = await Client.joined(server.wsUrl("errors"), name);
    expect((await say(ada, "x")).name).toBe(name);
  });

  for (const [what, since] of [
    ["negative", -1],
    ["fractional", 1.5],
    ["a string", "5"],
  ] as const) {
    test(`a ${what} since is bad_frame`, async () => {
      const server = await startServer();
      const ada = await Client.open(server.wsUrl("errors"));
      await refused(ada, { type: "join", name: "ada", since }, "bad_frame");
      ada.send({ type: "join", name: "ada" });
      expect((await ada.next()).type).toBe("history");
    });
  }
});

describe("too_long", () => {
  test("a message over 2000 characters is too_long, carries the clientId, and is neither stored nor sent", async () => {
    const { server, ada, bob } = await room();
    const error = await refused(ada, { type: "message", message: "x".repeat(2001), clientId: "long-1" }, "too_long");
    expect(error.clientId).toBe("long-1");
    await goesOn(server, ada, bob);
  });
});

describe("not_joined and already_joined", () => {
  test("a message before join is not_joined (with its clientId); the socket may join afterwards", async () => {
    const server = await startServer();
    const url = server.wsUrl("errors");
    const bob = await Client.joined(url, "bob");
    const ada = await Client.open(url);
    const error = await refused(ada, { type: "message", message: "too early", clientId: "early" }, "not_joined");
    expect(error.clientId).toBe("early");
    ada.send({ type: "join", name: "ada" });
    const history = await ada.next();
    expect(history).toEqual({ type: "history", messages: [], online: ["bob", "ada"], members: [{ name: "bob" }, { name: "ada" }] });
    await ada.next("joined");
    await goesOn(server, ada, bob);
  });

  test("a second join is already_joined: no second joined, the socket stays in the room under its first name", async () => {
    const { server, ada, bob } = await room();
    await refused(ada, { type: "join", name: "other" }, "already_joined");
    const ok = await say(ada, "who am I");
    expect(ok.name).toBe("ada");
    await bob.next("message", (f) => f.id === ok.id);
    expect(bob.frames.filter((f) => f.type === "joined").map((f) => f.name)).toEqual(["bob"]);
    expect(bob.frames.filter((f) => f.type === "history").length).toBe(1);
    expect(storedRows(server.db).map((r) => r.name)).toEqual(["ada"]);
  });

  test("errors carry the refused frame's clientId", async () => {
    const { ada } = await room();
    const error = await refused(ada, { type: "message", message: "", clientId: "empty-1" }, "bad_frame");
    expect(error.clientId).toBe("empty-1");
  });
});

describe("frames with extra whitespace or fields", () => {
  test("one JSON object with whitespace around it is a frame", async () => {
    const server = await startServer();
    const ada = await Client.open(server.wsUrl("errors"));
    ada.send(`\n  ${JSON.stringify({ type: "join", name: "ada" })}  \n`);
    expect((await ada.next()).type).toBe("history");
  });

  test("unknown extra fields are ignored (fields may be added)", async () => {
    const server = await startServer();
    const ada = await Client.open(server.wsUrl("errors"));
    ada.send({ type: "join", name: "ada", color: "red" });
    expect((await ada.next()).type).toBe("history");
    ada.send({ type: "message", message: "hi", clientId: "x1", mood: "happy" });
    expect(await ada.next("message")).toMatchObject({ message: "hi", clientId: "x1" });
  });
});

describe("unavailable", () => {
  test("when the store fails, the sender gets unavailable with its clientId and nothing is stored or sent", async () => {
    const { server, ada, bob } = await room();
    const { Database } = await import("bun:sqlite");
    const db = new Database(server.db);
    db.exec(`CREATE TRIGGER refuse BEFORE INSERT ON messages WHEN NEW.message = 'boom' BEGIN SELECT RAISE(ABORT, 'refused by test'); END;`);
    db.close();
    const error = await refused(ada, { type: "message", message: "boom", clientId: "b1" }, "unavailable");
    expect(error.clientId).toBe("b1");
    await goesOn(server, ada, bob);
  });

  test("a failing commit refuses every message of its batch; each frame gets one answer; nothing unacknowledged is stored or sent", async () => {
    const { server, ada, bob } = await room();
    const carol = await Client.joined(server.wsUrl("errors"), "carol");
    const { Database } = await import("bun:sqlite");
    const db = new Database(server.db);
    db.exec(`CREATE TRIGGER refuse BEFORE INSERT ON messages WHEN NEW.message = 'boom' BEGIN SELECT RAISE(ABORT, 'refused by test'); END;`);
    db.close();
    const frames = ["a1", "a2", "boom", "a3"].map((message, i) => ({ type: "message", message, clientId: `a-${i}` }));
    for (const frame of frames) ada.send(frame);
    for (let i = 0; i < 3; i++) bob.send({ type: "message", message: `b${i}`, clientId: `b-${i}` });
    const answers = new Map<string, any>();
    for (const [client, n] of [[ada, 4], [bob, 3]] as const) {
      for (let i = 0; i < n; i++) {
        const f = await client.next(undefined, (f) => (f.type === "message" || f.type === "error") && typeof f.clientId === "string");
        expect(answers.has(f.clientId)).toBe(false);
        answers.set(f.clientId, f);
      }
    }
    expect(answers.get("a-2")).toMatchObject({ type: "error", code: "unavailable" });
    const acked = [...answers.values()].filter((f) => f.type === "message");
    for (const f of [...answers.values()].filter((f) => f.type === "error")) expect(f.code).toBe("unavailable");
    // the database holds exactly the acknowledged messages
    expect(storedRows(server.db).map((r) => r.id)).toEqual(acked.map((f) => f.id).sort((x, y) => x - y));
    // and carol heard exactly those, in id order
    const marker = await say(bob, "marker");
    await carol.next("message", (f) => f.id === marker.id);
    const heard = carol.frames.filter((f) => f.type === "message").map((f) => f.id);
    expect(heard).toEqual([...acked.map((f) => f.id).sort((x, y) => x - y), marker.id]);
  });
});

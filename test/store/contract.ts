// The MessageStore and AccessStore contracts (src/rooms/ports.ts), one suite for every implementation (hono's
// router tests are the model): each file that runs it hands over a way to open its store on a
// fresh database, to read that database's rows with a connection of its own, and to make its
// engine refuse a row. Every promise of the port is a test here, the failures too.
import { describe, expect, test } from "bun:test";
import type { Message } from "../../src/protocol/frames";
import type { AccessStore, Appended, Draft, MessageStore } from "../../src/rooms/ports";
import { defer } from "../helpers";

export interface ContractOptions {
  /** Called after each commit, before append() resolves (the store's metrics hook). */
  onCommit?: (rows: number, ms: number) => void;
  /** How long a clientId is remembered for retries (ms). */
  clientIdWindowMs?: number;
}

export interface StoredRow extends Omit<Message, "userId"> {
  clientId: string | null;
  userId: string | null;
}

/** One fresh database of the implementation under test. */
export interface ContractDatabase {
  /** Opens a store on this database (again, after a close: the same data). */
  open(options?: ContractOptions): Promise<MessageStore & AccessStore>;
  /** Every row, in id order, read by a connection of its own. */
  rows(): Promise<StoredRow[]>;
  /** From now on the engine refuses to store a message whose text is `message` (a trigger). */
  refuse(message: string): Promise<void>;
}

/**
 * What a promise rejects with, or undefined. (Not `await expect(p).rejects`: in Bun 1.4.5 it
 * parks the event loop in a nested wait that loses the wakeup of a worker's message, and the
 * SQLite store's writer is one.)
 */
export const rejection = (p: Promise<unknown>) => p.then(() => undefined, (error: Error) => error);

export const draft = (message: string, extra: Partial<Draft> = {}): Draft => ({ room: "r", name: "ada", message, timestamp: 1000, ...extra });

const texts = (rows: { message: string }[]) => rows.map((r) => r.message);

export function runStoreContract(name: string, makeDatabase: () => Promise<ContractDatabase>) {
  /** A fresh database, and a store on it closed after the test. */
  async function fresh(options?: ContractOptions) {
    const database = await makeDatabase();
    const store = await database.open(options);
    defer(() => store.close());
    return { database, store };
  }

  describe(`MessageStore contract: ${name}`, () => {
    describe("append: one transaction per batch", () => {
      test("order is kept within a batch and across batches, however they interleave; ids increase", async () => {
        const { database, store } = await fresh();
        const one = store.append([draft("a"), draft("b"), draft("c")]);
        const two = store.append([draft("d", { room: "s" }), draft("e")]);
        const three = store.append([draft("f")]);
        const results = [...(await one), ...(await two), ...(await three)];
        expect(texts(results.map((r) => r.message))).toEqual(["a", "b", "c", "d", "e", "f"]);
        const ids = results.map((r) => r.message.id);
        for (let i = 1; i < ids.length; i++) expect(ids[i]!).toBeGreaterThan(ids[i - 1]!);
        expect(results.every((r) => r.fresh)).toBe(true);
        expect((await database.rows()).map((r) => [r.id, r.message])).toEqual(results.map((r) => [r.message.id, r.message.message]));
      });

      test("prev: each new message names the room's message before it (0 for the first), across rooms, batches, retries and retention", async () => {
        const { database, store } = await fresh();
        const results = [
          ...(await store.append([draft("a"), draft("b", { room: "s" }), draft("c"), draft("x", { clientId: "k" })])),
          ...(await store.append([draft("d", { room: "s" }), draft("x", { clientId: "k" }), draft("e"), draft("f", { room: "__proto__" })])),
        ];
        const stored = results.filter((r) => r.fresh);
        expect(results.filter((r) => !r.fresh).map((r) => r.message.message)).toEqual(["x"]);
        // Against the rows as stored: per room, each row's prev is the id of the row before it.
        const before = new Map<string, number>();
        const expected = new Map<number, number>();
        for (const row of await database.rows()) {
          expected.set(row.id, before.get(row.room) ?? 0);
          before.set(row.room, row.id);
        }
        expect(stored.map((r) => [r.message.id, r.prev])).toEqual(stored.map((r) => [r.message.id, expected.get(r.message.id)!]));
        expect(stored[0]!.prev).toBe(0);
        // After retention emptied a room, its next message follows nothing still stored (0) or the pruned one.
        await store.prune(2000);
        const [after] = await store.append([draft("g", { room: "s", timestamp: 3000 })]);
        expect([0, before.get("s")]).toContain(after!.prev);
      });

      test("each result is the stored row as read back by another connection", async () => {
        const { database, store } = await fresh();
        const [result] = await store.append([draft("x", { room: "q", name: "bob", timestamp: 42, clientId: "c1" })]);
        expect(result!.message).toEqual({ id: result!.message.id, room: "q", name: "bob", message: "x", timestamp: 42 });
        expect(await database.rows()).toEqual([{ ...result!.message, clientId: "c1", userId: null }]);
      });

      test("text comes back exactly as sent: quotes, backslashes, braces, commas, newlines, NULL, non-ASCII", async () => {
        const { database, store } = await fresh();
        const texts = ["it's \"quoted\"", "back\\slash \\N", "{braces},[brackets]", "a,b,c", "line\nbreak\ttab", "NULL", "null", " ", "\u20ac \u00e9 \u4e2d \ud83d\ude00", "\u200b"];
        const results = await store.append(texts.map((message, i) => draft(message, { clientId: `${message}|${i}` })));
        expect(results.map((r) => r.message.message)).toEqual(texts);
        expect((await store.page("r", { limit: 100 })).map((m) => m.message)).toEqual(texts);
        expect((await database.rows()).map((r) => r.clientId)).toEqual(texts.map((message, i) => `${message}|${i}`));
        const retries = await store.append(texts.map((message, i) => draft(message, { clientId: `${message}|${i}` })));
        expect(retries.every((r) => !r.fresh)).toBe(true);
      });

      test("a batch is committed when its promise resolves: another connection sees all of it", async () => {
        const { database, store } = await fresh();
        const results = await store.append(Array.from({ length: 50 }, (_, i) => draft(`m${i}`, { room: `room${i % 3}` })));
        expect(results).toHaveLength(50);
        expect(await database.rows()).toHaveLength(50);
      });

      test("a rejected append (a row the engine refuses) stores nothing of its batch; the next batch works", async () => {
        const { database, store } = await fresh();
        await store.append([draft("before")]);
        await database.refuse("boom");
        const failing = store.append([draft("a"), draft("a2", { room: "new room" }), draft("boom"), draft("c", { clientId: "k" })]);
        expect((await rejection(failing))?.message).toContain("refused by test");
        expect(texts(await database.rows())).toEqual(["before"]);
        // the rolled-back clientId was not remembered; the store goes on
        const [c] = await store.append([draft("c", { clientId: "k" })]);
        expect(c!.fresh).toBe(true);
        expect(texts(await database.rows())).toEqual(["before", "c"]);
        expect(await store.page("new room", { limit: 10 })).toEqual([]);
      });

      test("appends may overlap: they commit in call order, and a failing one takes none of the others with it", async () => {
        const { database, store } = await fresh();
        await store.append([draft("warm-up")]);
        await database.refuse("boom");
        const calls = [store.append([draft("a1"), draft("a2")]), store.append([draft("boom")]), store.append([draft("c1", { clientId: "k" })]), store.append([draft("d1", { room: "s" })])];
        const [a, b, c, d] = await Promise.all(calls.map((call) => call.then((results) => results, (error: Error) => error)));
        expect(b).toBeInstanceOf(Error);
        const ids = [...(a as Appended[]), ...(c as Appended[]), ...(d as Appended[])].map((r) => r.message.id);
        expect(ids).toEqual([...ids].sort((x, y) => x - y));
        expect(texts(await database.rows())).toEqual(["warm-up", "a1", "a2", "c1", "d1"]);
      });

      test("a page read between the commit and append()'s resolving does not show the batch (it is not delivered yet)", async () => {
        let probe: (() => void) | undefined;
        const { store } = await fresh({ onCommit: () => probe?.() });
        await store.append([draft("first")]);
        let during: Promise<Message[]> | undefined;
        probe = () => (during ??= store.page("r", { limit: 10 }));
        const [second] = await store.append([draft("second")]);
        // A joiner reading then would get "second" in its history, and again when it is delivered.
        expect(texts(await during!)).toEqual(["first"]);
        expect(await store.page("r", { limit: 10 })).toContainEqual(second!.message);
      });

      test("a closed store rejects appends", async () => {
        const { store } = await fresh();
        await store.close();
        expect(await rejection(store.append([draft("late")]))).toBeInstanceOf(Error);
      });

      test("close() commits what is pending first", async () => {
        const database = await makeDatabase();
        const store = await database.open();
        const pending = store.append([draft("one"), draft("two")]);
        const later = store.append([draft("three")]);
        await store.close();
        expect((await pending).map((r) => r.fresh)).toEqual([true, true]);
        expect((await later)[0]!.fresh).toBe(true);
        expect(texts(await database.rows())).toEqual(["one", "two", "three"]);
      });
    });

    describe("clientId: a repeated send is stored once", () => {
      test("once per room and name, within a batch and across batches; no clientId never conflicts", async () => {
        const { database, store } = await fresh();
        const [a, b, c, d, b2, c2] = await store.append([
          draft("first", { clientId: "k" }),
          draft("dup", { clientId: "k" }),
          draft("other name", { clientId: "k", name: "bob" }),
          draft("other room", { clientId: "k", room: "s" }),
          draft("dup after the others", { clientId: "k" }),
          draft("other name again", { clientId: "k", name: "bob" }),
        ]);
        expect(a!.fresh).toBe(true);
        expect(b).toEqual({ message: a!.message, fresh: false });
        expect(c!.fresh && d!.fresh).toBe(true);
        expect(b2).toEqual({ message: a!.message, fresh: false });
        expect(c2).toEqual({ message: c!.message, fresh: false });
        const [e] = await store.append([draft("later dup", { clientId: "k" })]);
        expect(e).toEqual({ message: a!.message, fresh: false });
        const plain = await store.append([draft("same"), draft("same")]);
        expect(plain.every((p) => p.fresh)).toBe(true);
        expect(await database.rows()).toHaveLength(5);
      });

      test("a retry within the window gets the stored message, after a reopen too; an older one is stored anew", async () => {
        const database = await makeDatabase();
        const window = { clientIdWindowMs: 1000 };
        const first = await database.open(window);
        const [, kept] = await first.append([draft("old", { clientId: "old", timestamp: 1000 }), draft("kept", { clientId: "kept", timestamp: 5000 })]);
        await first.close();
        const again = await database.open(window);
        defer(() => again.close());
        const [retryKept, retryOld] = await again.append([draft("kept", { clientId: "kept", timestamp: 5500 }), draft("old", { clientId: "old", timestamp: 5500 })]);
        expect(retryKept).toEqual({ message: kept!.message, fresh: false });
        expect(retryOld!.fresh).toBe(true); // 4.5 s after its original: out of the window
        // once time moves on, "kept" falls out of the window too
        await again.append([draft("later", { timestamp: 7000 })]);
        const [late] = await again.append([draft("kept", { clientId: "kept", timestamp: 7000 })]);
        expect(late!.fresh).toBe(true);
      });

      test("a retry whose message retention deleted is stored anew", async () => {
        const { store } = await fresh();
        await store.append([draft("gone", { clientId: "k", timestamp: 100 }), draft("stays", { timestamp: 100 })]);
        expect(await store.prune(101)).toBe(2);
        const [retry] = await store.append([draft("gone", { clientId: "k", timestamp: 200 })]);
        expect(retry!.fresh).toBe(true);
        expect(await store.page("r", { limit: 10 })).toEqual([retry!.message]);
      });
    });

    describe("userId: the sender's id in the app, kept with its message", () => {
      test("it round-trips through append, page and another connection; a message without one has no userId key (not null)", async () => {
        const { database, store } = await fresh();
        const [withId, without] = await store.append([draft("signed", { userId: "user-1" }), draft("anonymous")]);
        expect(withId!.message).toEqual({ id: withId!.message.id, room: "r", name: "ada", message: "signed", timestamp: 1000, userId: "user-1" });
        expect(Object.keys(without!.message)).not.toContain("userId");
        const page = await store.page("r", { limit: 10 });
        expect(page).toEqual([withId!.message, without!.message]);
        expect(Object.keys(page[1]!)).not.toContain("userId");
        expect(JSON.stringify(page[1])).not.toContain("userId");
        expect((await store.page("r", { after: 0, limit: 10 })).map((m) => m.userId)).toEqual(["user-1", undefined]);
        expect((await database.rows()).map((r) => r.userId)).toEqual(["user-1", null]);
      });

      test("many rows of one batch keep each its own userId (rows go many to a statement)", async () => {
        const { store } = await fresh();
        const drafts = Array.from({ length: 100 }, (_, i) => draft(`m${i}`, i % 3 ? { userId: `u${i}` } : {}));
        await store.append(drafts);
        expect((await store.page("r", { limit: 100 })).map((m) => m.userId)).toEqual(drafts.map((d) => d.userId));
      });

      test("a retry gets the original with the original's userId, whatever its own: within a batch, across batches, after a reopen", async () => {
        const database = await makeDatabase();
        const first = await database.open();
        const [signed, retried, unsigned, retriedWithId] = await first.append([
          draft("one", { clientId: "k1", userId: "user-1" }),
          draft("one", { clientId: "k1", userId: "someone else" }),
          draft("two", { clientId: "k2" }),
          draft("two", { clientId: "k2", userId: "user-2" }),
        ]);
        expect(retried).toEqual({ message: signed!.message, fresh: false });
        expect(retriedWithId).toEqual({ message: unsigned!.message, fresh: false });
        expect(Object.keys(retriedWithId!.message)).not.toContain("userId");
        const [later, laterWithId] = await first.append([draft("one", { clientId: "k1" }), draft("two", { clientId: "k2", userId: "user-2" })]);
        expect(later).toEqual({ message: signed!.message, fresh: false });
        expect(laterWithId).toEqual({ message: unsigned!.message, fresh: false });
        await first.close();
        const again = await database.open();
        defer(() => again.close());
        const [reopened, reopenedWithId] = await again.append([draft("one", { clientId: "k1", userId: "user-9" }), draft("two", { clientId: "k2", userId: "user-2" })]);
        expect(reopened).toEqual({ message: signed!.message, fresh: false });
        expect(reopenedWithId).toEqual({ message: unsigned!.message, fresh: false });
        expect(Object.keys(reopenedWithId!.message)).not.toContain("userId");
      });
    });

    describe("reading", () => {
      test("messages survive closing and reopening the database", async () => {
        const database = await makeDatabase();
        const first = await database.open();
        const stored = await first.append([draft("one"), draft("two", { clientId: "k" })]);
        await first.close();
        const again = await database.open();
        defer(() => again.close());
        expect(await again.page("r", { limit: 10 })).toEqual(stored.map((s) => s.message));
        const [retry] = await again.append([draft("two (retry)", { clientId: "k" })]);
        expect(retry).toEqual({ message: stored[1]!.message, fresh: false });
      });

      test("page: the latest `limit`, or those before `before`, or the first after `after`; oldest first; per room", async () => {
        const { store } = await fresh();
        const results = await store.append(Array.from({ length: 10 }, (_, i) => draft(`m${i}`, { room: i % 2 ? "odd" : "even" })));
        const even = results.filter((_, i) => i % 2 === 0).map((r) => r.message);
        expect(await store.page("even", { limit: 3 })).toEqual(even.slice(-3));
        expect(await store.page("even", { limit: 100 })).toEqual(even);
        expect(await store.page("even", { before: even[3]!.id, limit: 2 })).toEqual(even.slice(1, 3));
        expect(await store.page("even", { after: even[0]!.id, limit: 2 })).toEqual(even.slice(1, 3));
        expect(await store.page("even", { after: even[1]!.id, before: even[4]!.id, limit: 10 })).toEqual(even.slice(2, 4));
        expect(await store.page("even", { after: even[4]!.id, limit: 2 })).toEqual([]);
        expect(await store.page("none", { limit: 3 })).toEqual([]);
      });

      test("rooms: each room with messages, its newest message's id and timestamp, most recent first", async () => {
        const { store } = await fresh();
        const [, b, c] = await store.append([draft("a", { room: "x", timestamp: 5 }), draft("b", { room: "y", timestamp: 9 }), draft("c", { room: "x", timestamp: 9 })]);
        expect(await store.rooms({ limit: 10 })).toEqual([
          { room: "x", lastId: c!.message.id, lastMessageAt: 9 },
          { room: "y", lastId: b!.message.id, lastMessageAt: 9 },
        ]);
        expect(await store.rooms({ limit: 1 })).toEqual([{ room: "x", lastId: c!.message.id, lastMessageAt: 9 }]);
      });

      test("rooms pages most recent first: `before` the last row's lastId gives the next page, without gaps or repeats", async () => {
        const { store } = await fresh();
        for (let i = 0; i < 25; i++) await store.append([draft("x", { room: `r${i}`, timestamp: 100 + i })]);
        await store.append([draft("again", { room: "r3", timestamp: 500 })]); // r3 moves to the front
        const seen: string[] = [];
        let before: number | undefined;
        for (;;) {
          const page = await store.rooms({ before, limit: 7 });
          expect(page.length).toBeLessThanOrEqual(7);
          if (!page.length) break;
          seen.push(...page.map((r) => r.room));
          before = page.at(-1)!.lastId;
        }
        expect(seen).toEqual(["r3", ...Array.from({ length: 25 }, (_, i) => `r${24 - i}`).filter((r) => r !== "r3")]);
      });

      test("rooms: a batch that rolls back leaves the list as it was; retries are not new messages", async () => {
        const { database, store } = await fresh();
        await store.append([draft("before", { room: "a", clientId: "k" })]);
        const listed = await store.rooms({ limit: 10 });
        await database.refuse("boom");
        expect(await rejection(store.append([draft("x", { room: "a" }), draft("y", { room: "new" }), draft("boom", { room: "a" })]))).toBeInstanceOf(Error);
        expect(await store.rooms({ limit: 10 })).toEqual(listed);
        await store.append([draft("before", { room: "a", clientId: "k" })]);
        expect(await store.rooms({ limit: 10 })).toEqual(listed);
      });
    });

    describe("prune", () => {
      test("deletes only messages older than the cutoff, in chunks, returns how many; ids are never reused", async () => {
        const { store } = await fresh();
        await store.append(Array.from({ length: 2500 }, (_, i) => draft(`old${i}`, { timestamp: 100 })));
        const kept = await store.append([draft("new", { timestamp: 5000 })]);
        expect(await store.prune(1000)).toBe(2500);
        expect(await store.page("r", { limit: 10 })).toEqual([kept[0]!.message]);
        expect(await store.prune(6000)).toBe(1);
        const [next] = await store.append([draft("after", { timestamp: 7000 })]);
        expect(next!.message.id).toBeGreaterThan(kept[0]!.message.id);
      });

      test("ids are never reused after a reopen either, even when retention deleted every message (the newest too)", async () => {
        const database = await makeDatabase();
        const first = await database.open();
        const stored = await first.append([draft("one", { timestamp: 100 }), draft("two", { timestamp: 200 })]);
        expect(await first.prune(1000)).toBe(2);
        await first.close();
        const again = await database.open();
        defer(() => again.close());
        const [next] = await again.append([draft("after", { timestamp: 7000 })]);
        expect(next!.message.id).toBeGreaterThan(stored[1]!.message.id);
      });

      test("a room whose messages are all pruned leaves the room list; one with messages left stays", async () => {
        const { store } = await fresh();
        await store.append([draft("old", { room: "gone", timestamp: 100 }), draft("old", { room: "kept", timestamp: 100 }), draft("new", { room: "kept", timestamp: 5000 })]);
        expect(await store.prune(1000)).toBe(2);
        expect((await store.rooms({ limit: 10 })).map((r) => r.room)).toEqual(["kept"]);
        await store.append([draft("back", { room: "gone", timestamp: 6000 })]);
        expect((await store.rooms({ limit: 10 })).map((r) => r.room)).toEqual(["gone", "kept"]);
      });
    });
  });
  describe(`AccessStore contract: ${name}`, () => {
    describe("room settings", () => {
      test("a room never configured is public, without a title", async () => {
        const { store } = await fresh();
        expect(await store.roomSettings("lobby")).toEqual({ private: false });
        await store.append([draft("hello", { room: "lobby" })]);
        expect(await store.roomSettings("lobby")).toEqual({ private: false });
      });

      test("set and get: a change keeps what it does not name, `title: null` removes the title; per room", async () => {
        const { store } = await fresh();
        expect(await store.setRoomSettings("team", { private: true })).toEqual({ private: true });
        expect(await store.roomSettings("team")).toEqual({ private: true });
        expect(await store.setRoomSettings("team", { title: "The team" })).toEqual({ private: true, title: "The team" });
        expect(await store.setRoomSettings("team", {})).toEqual({ private: true, title: "The team" });
        expect(await store.setRoomSettings("team", { private: false })).toEqual({ private: false, title: "The team" });
        expect(await store.roomSettings("team")).toEqual({ private: false, title: "The team" });
        expect(await store.setRoomSettings("team", { private: true, title: null })).toEqual({ private: true });
        expect(await store.roomSettings("team")).toEqual({ private: true });
        expect(await store.setRoomSettings("titled", { title: "it's \"quoted\" \u20ac" })).toEqual({ private: false, title: "it's \"quoted\" \u20ac" });
        expect(await store.roomSettings("other")).toEqual({ private: false });
        expect(await store.roomSettings("Team")).toEqual({ private: false }); // room names are case-sensitive
      });

      test("a settings object has no title key without a title (not null)", async () => {
        const { store } = await fresh();
        await store.setRoomSettings("a", { title: "x" });
        await store.setRoomSettings("a", { title: null });
        expect(Object.keys(await store.roomSettings("a"))).toEqual(["private"]);
        expect(Object.keys(await store.roomSettings("never"))).toEqual(["private"]);
      });

      test("privateRooms: which of the named rooms are private, in one read of any length", async () => {
        const { store } = await fresh();
        await store.setRoomSettings("staff", { private: true });
        await store.setRoomSettings("titled", { title: "public, with a title" });
        await store.setRoomSettings("was", { private: true });
        await store.setRoomSettings("was", { private: false });
        expect(await store.privateRooms([])).toEqual(new Set());
        expect(await store.privateRooms(["lobby", "staff", "titled", "was", "Staff"])).toEqual(new Set(["staff"]));
        const many = Array.from({ length: 1500 }, (_, i) => `r${i}`);
        await store.setRoomSettings("r1499", { private: true });
        expect(await store.privateRooms(many)).toEqual(new Set(["r1499"]));
      });
    });

    describe("bans", () => {
      test("a ban without an end: in effect until lifted; isBanned is exact per room and user", async () => {
        const { store } = await fresh();
        expect(await store.isBanned("r", "spammer", 1000)).toBe(false); // read first: a later read must see the write
        await store.ban("r", "spammer", {}, 1000);
        expect(await store.isBanned("r", "spammer", 1000)).toBe(true);
        expect(await store.isBanned("r", "spammer", Number.MAX_SAFE_INTEGER)).toBe(true);
        expect(await store.isBanned("s", "spammer", 1000)).toBe(false);
        expect(await store.isBanned("r", "spammer2", 1000)).toBe(false);
        expect(await store.isBanned("r", "Spammer", 1000)).toBe(false);
        expect(await store.isBanned("r2", "spammer", 1000)).toBe(false);
        expect(await store.bans("r", 5000)).toEqual([{ userId: "spammer", createdAt: 1000 }]);
        expect(Object.keys((await store.bans("r", 5000))[0]!)).toEqual(["userId", "createdAt"]);
        expect(await store.bans("s", 5000)).toEqual([]);
      });

      test("a ban with an end is in effect before it, not at or after it, and is not listed once ended", async () => {
        const { store } = await fresh();
        await store.ban("r", "u1", { reason: "flood", until: 2000 }, 1000);
        expect(await store.isBanned("r", "u1", 1999)).toBe(true);
        expect(await store.bans("r", 1999)).toEqual([{ userId: "u1", reason: "flood", until: 2000, createdAt: 1000 }]);
        expect(await store.isBanned("r", "u1", 2000)).toBe(false);
        expect(await store.isBanned("r", "u1", 3000)).toBe(false);
        expect(await store.bans("r", 2000)).toEqual([]);
      });

      test("bans lists the room's bans in effect, by userId, each with its own terms", async () => {
        const { store } = await fresh();
        await store.ban("r", "carol", { until: 1500 }, 1000);
        await store.ban("r", "bob", { reason: "spam" }, 1100);
        await store.ban("r", "alice", { until: 9000 }, 1200);
        await store.ban("elsewhere", "dave", {}, 1300);
        expect(await store.bans("r", 1400)).toEqual([
          { userId: "alice", until: 9000, createdAt: 1200 },
          { userId: "bob", reason: "spam", createdAt: 1100 },
          { userId: "carol", until: 1500, createdAt: 1000 },
        ]);
        expect((await store.bans("r", 1600)).map((b) => b.userId)).toEqual(["alice", "bob"]);
      });

      test("a new ban of the same user in the room replaces the old one: terms and createdAt", async () => {
        const { store } = await fresh();
        await store.ban("r", "u1", { reason: "first", until: 2000 }, 1000);
        await store.ban("r", "u1", {}, 1500);
        expect(await store.bans("r", 1600)).toEqual([{ userId: "u1", createdAt: 1500 }]);
        expect(await store.isBanned("r", "u1", 5000)).toBe(true);
        await store.ban("r", "u1", { reason: "shorter", until: 1700 }, 1600);
        expect(await store.isBanned("r", "u1", 1800)).toBe(false);
      });

      test("an ended ban does not stop a new one; banning again after the end works", async () => {
        const { store } = await fresh();
        await store.ban("r", "u1", { until: 2000 }, 1000);
        await store.ban("r", "u2", {}, 3000); // the room's next ban, after u1's ended
        expect(await store.isBanned("r", "u1", 3000)).toBe(false);
        await store.ban("r", "u1", { until: 5000 }, 3000);
        expect(await store.bans("r", 3000)).toEqual([
          { userId: "u1", until: 5000, createdAt: 3000 },
          { userId: "u2", createdAt: 3000 },
        ]);
      });

      test("unban lifts it in that room only; unbanning someone not banned is fine", async () => {
        const { store } = await fresh();
        await store.ban("r", "u1", {}, 1000);
        await store.ban("s", "u1", {}, 1000);
        await store.unban("r", "u1");
        expect(await store.isBanned("r", "u1", 1000)).toBe(false);
        expect(await store.isBanned("s", "u1", 1000)).toBe(true);
        expect(await store.bans("r", 1000)).toEqual([]);
        await store.unban("r", "u1");
        await store.unban("r", "nobody");
        expect(await store.bans("s", 1000)).toEqual([{ userId: "u1", createdAt: 1000 }]);
      });

      test("an end or a `now` that is not an integer is refused, and nothing is stored", async () => {
        const { store } = await fresh();
        for (const until of [Number.NaN, Infinity, 1.5]) expect(await rejection(store.ban("r", "u1", { until }, 1000))).toBeInstanceOf(RangeError);
        expect(await rejection(store.ban("r", "u1", {}, Number.NaN))).toBeInstanceOf(RangeError);
        expect(await store.bans("r", 1000)).toEqual([]);
        expect(await store.isBanned("r", "u1", 1000)).toBe(false);
      });

      test("text comes back as sent: quotes, non-ASCII, long ids", async () => {
        const { store } = await fresh();
        const userId = `it's "odd" \u20ac ${"x".repeat(120)}`;
        await store.ban("r", userId, { reason: "line\nbreak \ud83d\ude00" }, 1000);
        expect(await store.isBanned("r", userId, 1000)).toBe(true);
        expect(await store.bans("r", 1000)).toEqual([{ userId, reason: "line\nbreak \ud83d\ude00", createdAt: 1000 }]);
      });
    });

    test("settings and bans survive closing and reopening the database", async () => {
      const database = await makeDatabase();
      const first = await database.open();
      await first.setRoomSettings("team", { private: true, title: "Team" });
      await first.ban("team", "u1", { reason: "spam", until: 9000 }, 1000);
      await first.ban("team", "u2", {}, 1000);
      await first.close();
      const again = await database.open();
      defer(() => again.close());
      expect(await again.roomSettings("team")).toEqual({ private: true, title: "Team" });
      expect(await again.isBanned("team", "u1", 2000)).toBe(true);
      expect(await again.bans("team", 2000)).toEqual([
        { userId: "u1", reason: "spam", until: 9000, createdAt: 1000 },
        { userId: "u2", createdAt: 1000 },
      ]);
    });

    test("access writes and appends may overlap: each is applied", async () => {
      const { store } = await fresh();
      const calls = [store.append([draft("a")]), store.ban("r", "u1", {}, 1000), store.setRoomSettings("r", { private: true }), store.append([draft("b")])];
      await Promise.all(calls);
      expect(await store.isBanned("r", "u1", 1000)).toBe(true);
      expect(await store.roomSettings("r")).toEqual({ private: true });
      expect((await store.page("r", { limit: 10 })).map((m) => m.message)).toEqual(["a", "b"]);
    });

    test("a closed store rejects access writes", async () => {
      const { store } = await fresh();
      await store.close();
      expect(await rejection(store.ban("r", "u1", {}, 1000))).toBeInstanceOf(Error);
      expect(await rejection(store.setRoomSettings("r", { private: true }))).toBeInstanceOf(Error);
      expect(await rejection(store.unban("r", "u1"))).toBeInstanceOf(Error);
    });
  });
}

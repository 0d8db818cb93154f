// The in-memory store: the MessageStore contract (test/store/contract.ts), then its own
// bookkeeping: the room list kept in lastId order through many appends, prune, retries, close.
import { expect, test } from "bun:test";
import { MemoryDatabase, openMemoryStore } from "../../src/store/memory";
import { rejection, runStoreContract, type StoredRow } from "./contract";

runStoreContract("memory", async () => {
  const database = new MemoryDatabase();
  return {
    async open({ onCommit, clientIdWindowMs } = {}) {
      return openMemoryStore({ database, onCommit, clientIds: clientIdWindowMs === undefined ? undefined : { windowMs: clientIdWindowMs, max: 100_000 } });
    },
    async rows() {
      return database.rows().map((m): StoredRow => ({ ...m, clientId: m.clientId ?? null, userId: m.userId ?? null }));
    },
    async refuse(message) {
      database.check = (draft) => {
        if (draft.message === message) throw new Error("refused by test");
      };
    },
  };
});

const draft = (room: string, message: string, timestamp = 1, clientId?: string) => ({ room, name: "n", message, timestamp, clientId });

test("rooms(): most recent first, paged by lastId, after many rooms moved to the front many times", async () => {
  const store = openMemoryStore();
  for (let round = 0; round < 50; round++) await store.append([0, 1, 2, 3, 4].map((k) => draft(`room${(round + k) % 7}`, `${round}`)));
  const all = await store.rooms({ limit: 100 });
  expect(all.length).toBe(7);
  expect(all.map((r) => r.lastId)).toEqual([...all.map((r) => r.lastId)].sort((a, b) => b - a));
  const paged = [];
  for (let before: number | undefined; ; ) {
    const page = await store.rooms({ before, limit: 2 });
    paged.push(...page);
    if (page.length < 2) break;
    before = page.at(-1)!.lastId;
  }
  expect(paged).toEqual(all);
});

test("prune deletes what is older than the cutoff; a room left empty leaves the list, one with messages keeps its place", async () => {
  const store = openMemoryStore();
  await store.append([draft("old", "a", 1), draft("mixed", "b", 1), draft("mixed", "c", 10)]);
  expect(await store.prune(5)).toBe(2);
  expect((await store.rooms({ limit: 10 })).map((r) => r.room)).toEqual(["mixed"]);
  expect((await store.page("mixed", { limit: 10 })).map((m) => m.message)).toEqual(["c"]);
  await store.append([draft("old", "again", 20)]);
  expect((await store.rooms({ limit: 10 })).map((r) => [r.room, r.lastId])).toEqual([["old", 4], ["mixed", 3]]);
});

test("a retry within the batch or after it gets the stored message; after close, appends are refused", async () => {
  const store = openMemoryStore();
  const [first, again] = await store.append([draft("r", "x", 1, "c"), draft("r", "x", 1, "c")]);
  expect(first!.fresh).toBe(true);
  expect(again).toEqual({ message: first!.message, fresh: false });
  const [later] = await store.append([draft("r", "x", 2, "c")]);
  expect(later).toEqual({ message: first!.message, fresh: false });
  await store.close();
  expect((await rejection(store.append([draft("r", "y")])))?.message).toBe("store closed");
});

// The PostgreSQL store: the MessageStore contract (contract.ts) on a real PostgreSQL started for
// this file (test/pg.ts), then what only a shared database has: migrations applied once by nodes
// starting together, and two nodes (two stores on one database) writing one room at once.
import { describe, expect, test } from "bun:test";
import { SQL } from "bun";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { MessageStore } from "../../src/rooms/ports";
import { and, asc, desc, eq, gt, isNull, lt, or, sql } from "drizzle-orm";
import { openPgStore } from "../../src/store/pg";
import { bans, messages, roomSettings, rooms } from "../../src/store/pg/schema";
import { defer } from "../helpers";
import { usePostgres } from "../pg";
import { draft, rejection, runStoreContract, type StoredRow } from "./contract";

const pg = usePostgres();

const MIGRATIONS_DIR = join(import.meta.dir, "..", "..", "drizzle", "pg");
const journal = JSON.parse(readFileSync(join(MIGRATIONS_DIR, "meta", "_journal.json"), "utf8")) as { entries: { tag: string; when: number }[] };
const migrationSql = (tag: string) => readFileSync(join(MIGRATIONS_DIR, `${tag}.sql`), "utf8");

/** A connection of our own to the database. */
function peek(url: string) {
  const client = new SQL({ url, max: 1 });
  defer(() => client.close());
  return client;
}

async function rowsOf(client: SQL): Promise<StoredRow[]> {
  const rows = await client`select id, room, name, message, timestamp, client_id, user_id from messages order by id`;
  return rows.map((r: any) => ({ id: Number(r.id), room: r.room, name: r.name, message: r.message, timestamp: Number(r.timestamp), clientId: r.client_id, userId: r.user_id }));
}

/** A store on the database, closed after the test. */
async function node(url: string, options?: Parameters<typeof openPgStore>[1]) {
  const store = await openPgStore(url, options);
  defer(() => store.close());
  return store;
}

runStoreContract("postgres", async () => {
  const url = await pg.server.createDatabase();
  const outside = peek(url);
  return {
    open: ({ onCommit, clientIdWindowMs } = {}) => openPgStore(url, { onCommit, clientIds: clientIdWindowMs === undefined ? undefined : { windowMs: clientIdWindowMs } }),
    rows: () => rowsOf(outside),
    async refuse(message) {
      const quoted = `'${message.replaceAll("'", "''")}'`;
      await outside.unsafe(`
        create function refuse() returns trigger language plpgsql as $$
        begin
          if new.message = ${quoted} then raise exception 'refused by test'; end if;
          return new;
        end $$`);
      await outside.unsafe(`create trigger refuse before insert on messages for each row execute function refuse()`);
    },
  };
});

describe("migrations", () => {
  test("an empty database gets every migration, recorded as Drizzle's migrator records them", async () => {
    const url = await pg.server.createDatabase();
    await node(url);
    const db = peek(url);
    const columns = await db`select table_name, column_name from information_schema.columns where table_schema = 'public' order by table_name, ordinal_position`;
    expect(columns.map((c: any) => `${c.table_name}.${c.column_name}`)).toEqual([
      "bans.room",
      "bans.user_id",
      "bans.reason",
      "bans.until",
      "bans.created_at",
      "messages.id",
      "messages.room",
      "messages.name",
      "messages.message",
      "messages.timestamp",
      "messages.client_id",
      "messages.user_id",
      "room_settings.room",
      "room_settings.private",
      "room_settings.title",
      "rooms.room",
      "rooms.last_id",
      "rooms.last_message_at",
      "rooms.messages",
    ]);
    const recorded = await db`select hash, created_at from drizzle.__drizzle_migrations order by created_at`;
    expect(recorded.map((r: any) => ({ hash: r.hash, created_at: Number(r.created_at) }))).toEqual(
      journal.entries.map((e) => ({ hash: createHash("sha256").update(migrationSql(e.tag)).digest("hex"), created_at: e.when })),
    );
  });

  test("four nodes starting at once on an empty database: all open, the migrations are applied once", async () => {
    const url = await pg.server.createDatabase();
    const stores = await Promise.all([1, 2, 3, 4].map(() => node(url)));
    const [count] = await peek(url)`select count(*)::int as n from drizzle.__drizzle_migrations`;
    expect(count.n).toBe(journal.entries.length);
    // and each of them works
    const results = await Promise.all(stores.map((store, i) => store.append([draft(`from node ${i}`)])));
    expect(new Set(results.map(([r]) => r!.message.id)).size).toBe(4);
  });

  test("a node reopening a migrated database applies nothing again", async () => {
    const url = await pg.server.createDatabase();
    await (await openPgStore(url)).close();
    await node(url);
    const [count] = await peek(url)`select count(*)::int as n from drizzle.__drizzle_migrations`;
    expect(count.n).toBe(journal.entries.length);
  });

  test("a database of the release before userIds and bans is upgraded in place: its messages stay, without a userId", async () => {
    const url = await pg.server.createDatabase();
    const old = peek(url);
    // What Drizzle's migrator leaves after the first migration only.
    const [first] = journal.entries;
    expect(first!.tag).toBe("0000_messages_and_rooms");
    const text = migrationSql(first!.tag);
    await old.unsafe(`create schema drizzle; create table drizzle.__drizzle_migrations (id serial primary key, hash text not null, created_at bigint)`);
    for (const statement of text.split("--> statement-breakpoint")) await old.unsafe(statement);
    await old`insert into drizzle.__drizzle_migrations (hash, created_at) values (${createHash("sha256").update(text).digest("hex")}, ${first!.when})`;
    await old`insert into messages (room, name, message, timestamp, client_id) values ('lobby', 'ada', 'from before', 5, 'k')`;
    await old`insert into rooms (room, last_id, last_message_at, messages) values ('lobby', 1, 5, 1)`;

    const store = await node(url);
    const [before] = await store.page("lobby", { limit: 10 });
    expect(before).toEqual({ id: 1, room: "lobby", name: "ada", message: "from before", timestamp: 5 });
    const [retry, signed] = await store.append([draft("from before", { room: "lobby", clientId: "k", timestamp: 6, userId: "u1" }), draft("now", { room: "lobby", timestamp: 7, userId: "u1" })]);
    expect(retry).toEqual({ message: before!, fresh: false });
    expect(signed!.message).toEqual({ id: signed!.message.id, room: "lobby", name: "ada", message: "now", timestamp: 7, userId: "u1" });
    expect(await store.roomSettings("lobby")).toEqual({ private: false });
    await store.ban("lobby", "u2", {}, 10);
    expect(await store.isBanned("lobby", "u2", 10)).toBe(true);
    const [count] = await old`select count(*)::int as n from drizzle.__drizzle_migrations`;
    expect(count.n).toBe(journal.entries.length);
  });

  test("a database that cannot be reached fails the open with the reason", async () => {
    const error = await rejection(openPgStore(`postgres://postgres@127.0.0.1:1/none`));
    expect(error).toBeInstanceOf(Error);
  });
});

describe("what PostgreSQL's text cannot hold", () => {
  test("U+0000 in a message or a clientId is stored (and acknowledged) as U+FFFD: the batch, everyone's, does not fail", async () => {
    const url = await pg.server.createDatabase();
    const store = await node(url);
    const [bystander, nul] = await store.append([draft("innocent"), draft("a\u0000b", { clientId: "k\u0000" })]);
    expect(bystander!.fresh).toBe(true);
    expect(nul!.message.message).toBe("a\ufffdb");
    expect((await store.page("r", { limit: 10 })).map((m) => m.message)).toEqual(["innocent", "a\ufffdb"]);
    const [retry] = await store.append([draft("a\u0000b", { clientId: "k\u0000" })]);
    expect(retry).toEqual({ message: nul!.message, fresh: false });
  });

  test("U+0000 in a userId, a ban's user or reason, a title: U+FFFD too, and the same id finds the same ban", async () => {
    const url = await pg.server.createDatabase();
    const store = await node(url);
    const [bystander, signed] = await store.append([draft("innocent", { userId: "ok" }), draft("hi", { userId: "u\u0000" })]);
    expect(bystander!.fresh).toBe(true);
    expect(signed!.message.userId).toBe("u\ufffd");
    expect((await store.page("r", { limit: 10 })).map((m) => m.userId)).toEqual(["ok", "u\ufffd"]);
    await store.ban("r", "u\u0000", { reason: "a\u0000" }, 1000);
    expect(await store.isBanned("r", "u\u0000", 1000)).toBe(true);
    expect(await store.bans("r", 1000)).toEqual([{ userId: "u\ufffd", reason: "a\ufffd", createdAt: 1000 }]);
    await store.unban("r", "u\u0000");
    expect(await store.isBanned("r", "u\u0000", 1000)).toBe(false);
    expect(await store.setRoomSettings("r", { title: "t\u0000" })).toEqual({ private: false, title: "t\ufffd" });
  });
});

describe("group commit", () => {
  test("batches queued while a transaction runs commit together in the next one, each with its own results, in call order", async () => {
    const url = await pg.server.createDatabase();
    const store = await node(url);
    await store.append([draft("warm-up")]);
    const admin = peek(url);
    // Each row records its transaction.
    await admin.unsafe(`create table txlog (id bigint, tx bigint)`);
    await admin.unsafe(`
      create function log_tx() returns trigger language plpgsql as $$
      begin
        insert into txlog values (new.id, txid_current());
        return new;
      end $$`);
    await admin.unsafe(`create trigger log_tx before insert on messages for each row execute function log_tx()`);
    // The first batch starts a transaction at once; the 50 calls after it queue meanwhile.
    const first = store.append([draft("first")]);
    const queued = Array.from({ length: 50 }, (_, i) => store.append([draft(`q${i}`), draft(`q${i}b`, { room: `room${i % 3}` })]));
    const results = [await first, ...(await Promise.all(queued))];
    expect(results.map((r) => r.map((a) => a.message.message))).toEqual([["first"], ...Array.from({ length: 50 }, (_, i) => [`q${i}`, `q${i}b`])]);
    const ids = results.flat().map((r) => r.message.id);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    const [{ n }] = await admin`select count(distinct tx)::int as n from txlog`;
    expect(n).toBe(2);
  });
});

describe("reads by index", () => {
  test("rooms' pages are a range of rooms_last_id, a room's messages of messages_room_id, retries of messages_client_id: no sort, no scan", async () => {
    const url = await pg.server.createDatabase();
    const store = await node(url);
    await store.append([draft("x", { clientId: "k" })]);
    const db = peek(url);
    await db`set enable_seqscan = off`; // a tiny table is scanned otherwise: what counts is that the index serves the query
    const plan = async (query: { toSQL(): { sql: string; params: unknown[] } }) => {
      const { sql: text, params } = query.toSQL();
      return (await db.unsafe(`explain ${text}`, params as never[])).map((r: any) => r["QUERY PLAN"]).join("\n");
    };
    const select = store.db.select({ room: rooms.room, lastId: rooms.lastId }).from(rooms);
    for (const query of [select.orderBy(desc(rooms.lastId)).limit(100), select.where(lt(rooms.lastId, 5)).orderBy(desc(rooms.lastId)).limit(100)]) {
      const text = await plan(query);
      expect(text).toContain("Index Scan Backward using rooms_last_id");
      expect(text).not.toMatch(/Sort|Seq Scan/);
    }
    const history = await plan(store.db.select().from(messages).where(and(eq(messages.room, "r"), lt(messages.id, 10))).orderBy(desc(messages.id)).limit(100));
    expect(history).toContain("messages_room_id");
    expect(history).not.toMatch(/Sort|Seq Scan/);
    const retry = await plan(store.db.select().from(messages).where(and(eq(messages.room, "r"), eq(messages.name, "ada"), eq(messages.clientId, "k"))));
    expect(retry).toContain("messages_client_id");
  });
});

describe("access reads by index", () => {
  test("settings, a ban check and a room's bans are lookups of a primary key: no scan, no sort", async () => {
    const url = await pg.server.createDatabase();
    const store = await node(url);
    await store.ban("r", "u1", {}, 1000);
    await store.setRoomSettings("r", { private: true });
    const db = peek(url);
    // A tiny table is scanned (or bitmap-scanned, then sorted) otherwise: what counts is that the
    // index serves the query, in the order asked.
    await db`set enable_seqscan = off`;
    await db`set enable_bitmapscan = off`;
    const plan = async (query: { toSQL(): { sql: string; params: unknown[] } }) => {
      const { sql: text, params } = query.toSQL();
      return (await db.unsafe(`explain ${text}`, params as never[])).map((r: any) => r["QUERY PLAN"]).join("\n");
    };
    // What access.ts asks, written the same way.
    const inEffect = or(isNull(bans.until), gt(bans.until, 1000));
    const settings = await plan(store.db.select({ private: roomSettings.private, title: roomSettings.title }).from(roomSettings).where(eq(roomSettings.room, "r")));
    const banned = await plan(store.db.select({ one: sql`1` }).from(bans).where(and(eq(bans.room, "r"), eq(bans.userId, "u1"), inEffect)));
    const list = await plan(store.db.select({ userId: bans.userId }).from(bans).where(and(eq(bans.room, "r"), inEffect)).orderBy(asc(bans.userId)));
    expect(settings).toContain("room_settings_pkey");
    expect(banned).toContain("bans_room_user_id_pk");
    expect(list).toContain("bans_room_user_id_pk");
    for (const text of [settings, banned, list]) expect(text).not.toMatch(/Sort|Seq Scan/);
  });
});

describe("retention", () => {
  test("goes in id order and ends at a slice with nothing expired: rows stamped older behind it wait", async () => {
    const store = await node(await pg.server.createDatabase());
    await store.append(Array.from({ length: 10 }, (_, i) => draft(`old ${i}`, { timestamp: 100 })));
    await store.append(Array.from({ length: 2000 }, (_, i) => draft(`new ${i}`, { timestamp: 5000 }))); // two slices
    await store.append(Array.from({ length: 5 }, (_, i) => draft(`stamped old ${i}`, { timestamp: 100 }))); // the clock set back
    // slices: 10 old and the first new ones, then new ones only: the end
    expect(await store.prune(1000)).toBe(10);
    expect(await store.prune(6000)).toBe(2005);
  });
});

describe("two nodes on one database", () => {
  test("a room's ids become visible in id order: a node's batch waits for the other's commit in that room", async () => {
    const url = await pg.server.createDatabase();
    const [a, b] = [await node(url), await node(url)];
    await a.append([draft("warm-up")]);
    const admin = peek(url);
    // Node a's batch takes its id, then stalls inside its transaction (the trigger sleeps).
    await admin.unsafe(`
      create function stall() returns trigger language plpgsql as $$
      begin
        if new.message = 'slow' then perform pg_sleep(0.5); end if;
        return new;
      end $$`);
    await admin.unsafe(`create trigger stall before insert on messages for each row execute function stall()`);
    let slowDone = false;
    const slow = a.append([draft("slow")]).then((r) => ((slowDone = true), r));
    // Wait until it is stalled: its backend is in pg_sleep.
    const deadline = Date.now() + 10_000;
    while ((await admin`select count(*)::int as n from pg_stat_activity where query like '%insert into "messages"%' and wait_event = 'PgSleep'`)[0].n === 0) {
      if (Date.now() > deadline) throw new Error("node a's batch never stalled");
    }
    // Node b writes the same room meanwhile. Had it taken an id now (11 after a's 10) and
    // committed, 11 would be visible before 10: a client resuming with since=11 would never
    // get 10. It must wait for a's commit instead.
    const [fast] = await b.append([draft("fast")]);
    expect(slowDone).toBe(true);
    const [slowResult] = await slow;
    expect(fast!.message.id).toBeGreaterThan(slowResult!.message.id);
    // Another room is not held up by it.
    await a.append([draft("slow", { room: "elsewhere" })]).then(() => {});
  });

  test("concurrent batches from two nodes into the same rooms: every snapshot of a room is a prefix of its history", async () => {
    const url = await pg.server.createDatabase();
    const [a, b] = [await node(url), await node(url)];
    const observer = peek(url);
    const rooms = ["x", "y"];
    const write = async (store: MessageStore, who: string) => {
      for (let i = 0; i < 60; i++) await store.append([draft(`${who}${i}`, { room: rooms[i % 2]! }), draft(`${who}${i}b`, { room: "x" })]);
    };
    const snapshots: number[][] = [];
    let writing = true;
    const watch = (async () => {
      while (writing) snapshots.push((await observer`select id from messages where room = 'x' order by id`).map((r: any) => Number(r.id)));
    })();
    await Promise.all([write(a, "a"), write(b, "b")]);
    writing = false;
    await watch;
    const history = (await rowsOf(observer)).filter((r) => r.room === "x").map((r) => r.id);
    expect(history).toHaveLength(180);
    expect(snapshots.length).toBeGreaterThan(5);
    for (const seen of snapshots) expect(seen).toEqual(history.slice(0, seen.length));
  });

  test("a retry that reaches the other node gets the stored message; the same clientId at both at once is stored once", async () => {
    const url = await pg.server.createDatabase();
    const [a, b] = [await node(url), await node(url)];
    const [original] = await a.append([draft("hello", { clientId: "k1" })]);
    const [retry] = await b.append([draft("hello", { clientId: "k1", timestamp: 2000 })]);
    expect(retry).toEqual({ message: original!.message, fresh: false });
    const both = await Promise.all([a.append([draft("race", { clientId: "k2" })]), b.append([draft("race", { clientId: "k2" })])]);
    const results = both.map(([r]) => r!);
    expect(results.filter((r) => r.fresh)).toHaveLength(1);
    expect(results[0]!.message).toEqual(results[1]!.message);
    expect((await rowsOf(peek(url))).map((r) => r.message)).toEqual(["hello", "race"]);
  });

  test("the rooms table matches the messages after writes and retention from both nodes at once", async () => {
    const url = await pg.server.createDatabase();
    const [a, b] = [await node(url), await node(url)];
    const batch = (who: string, at: number) => Array.from({ length: 300 }, (_, i) => draft(`${who}${i}`, { room: `room${i % 5}`, timestamp: at + i }));
    await Promise.all([a.append(batch("a", 100)), b.append(batch("b", 100)), a.append(batch("c", 5000)), b.append(batch("d", 100))]);
    const db = peek(url);
    type RoomRow = [room: string, lastId: number, lastMessageAt: number, messages: number];
    const tableAndTruth = async (): Promise<{ table: RoomRow[]; truth: RoomRow[] }> => ({
      table: (await db`select room, last_id, last_message_at, messages from rooms order by room`).map((r: any): RoomRow => [r.room, Number(r.last_id), Number(r.last_message_at), Number(r.messages)]),
      truth: (await db`select m.room, m.id, m.timestamp, c.n from messages m join (select room, max(id) as top, count(*) as n from messages group by room) c on c.room = m.room and c.top = m.id order by m.room`).map(
        (r: any): RoomRow => [r.room, Number(r.id), Number(r.timestamp), Number(r.n)],
      ),
    });
    const before = await tableAndTruth();
    expect(before.table).toEqual(before.truth);
    const [prunedA, prunedB] = await Promise.all([a.prune(1000), b.prune(1000)]);
    expect(prunedA + prunedB).toBe(900);
    // Counts follow; a room's newest message may be gone while older ones stay (timestamps are
    // not in id order here), as on SQLite: its row keeps pointing at it.
    const after = await tableAndTruth();
    expect(after.table.map((r) => [r[0], r[3]])).toEqual(after.truth.map((r) => [r[0], r[3]]));
    expect(after.table.map((r) => r[3])).toEqual([60, 60, 60, 60, 60]);
  });
});

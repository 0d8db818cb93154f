// Room settings, bans and userIds on SQLite, beyond the contract (contract.ts): an older database
// upgraded in place, the reads served by primary keys, the writes on the writing connection (and
// its wait for the write lock), and the upkeep of the bans table.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { and, asc, eq, gt, isNull, or, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/bun-sqlite";
import { bans, roomSettings } from "../../src/store/sqlite/schema";
import { tempDir } from "../helpers";
import { draft } from "./contract";
import { previousReleaseDatabase } from "./previous-release";
import { open, peek } from "./sqlite-files";

describe("migration", () => {
  test("a database of the release before userIds and bans is upgraded in place: its messages stay, without a userId", async () => {
    const path = join(tempDir(), "old.db");
    const old = previousReleaseDatabase(path, "0004");
    const t = Date.now(); // a retry matches within the window before now
    old.query(`INSERT INTO messages (room, name, message, timestamp, client_id) VALUES ('lobby', 'ada', 'from before', ${t}, 'k')`).run();
    old.query(`INSERT INTO rooms (room, last_id, last_message_at, messages) VALUES ('lobby', 1, ${t}, 1)`).run();
    old.close();

    const store = open(path);
    const [before] = await store.page("lobby", { limit: 10 });
    expect(before).toEqual({ id: 1, room: "lobby", name: "ada", message: "from before", timestamp: t });
    const [retry, signed] = await store.append([draft("from before", { room: "lobby", clientId: "k", timestamp: t + 1, userId: "u1" }), draft("now", { room: "lobby", timestamp: t + 2, userId: "u1" })]);
    expect(retry).toEqual({ message: before!, fresh: false });
    expect(signed!.message).toEqual({ id: 2, room: "lobby", name: "ada", message: "now", timestamp: t + 2, userId: "u1" });
    expect(await store.roomSettings("lobby")).toEqual({ private: false });
    await store.ban("lobby", "u2", {}, 10);
    expect(await store.isBanned("lobby", "u2", 10)).toBe(true);
  });
});

describe("reading", () => {
  test("settings, a ban check and a room's bans are lookups of a primary key: no scan, no sort", () => {
    const store = open();
    const db = drizzle({ client: store.database });
    const p = sql.placeholder;
    const inEffect = or(isNull(bans.until), gt(bans.until, p("now")));
    const plan = (query: { toSQL(): { sql: string } }) =>
      (store.database.query(`EXPLAIN QUERY PLAN ${query.toSQL().sql}`).all() as { detail: string }[]).map((r) => r.detail).join("; ");
    // What access.ts asks, written the same way.
    const settings = plan(db.select({ private: roomSettings.private, title: roomSettings.title }).from(roomSettings).where(eq(roomSettings.room, p("room"))));
    const banned = plan(db.select({ one: sql`1` }).from(bans).where(and(eq(bans.room, p("room")), eq(bans.userId, p("userId")), inEffect)));
    const list = plan(db.select({ userId: bans.userId }).from(bans).where(and(eq(bans.room, p("room")), inEffect)).orderBy(asc(bans.userId)));
    expect(settings).toMatch(/SEARCH room_settings USING INDEX sqlite_autoindex_room_settings_1 \(room=\?\)/);
    expect(banned).toMatch(/SEARCH bans USING INDEX sqlite_autoindex_bans_1 \(room=\? AND user_id=\?\)/);
    expect(list).toMatch(/SEARCH bans USING INDEX sqlite_autoindex_bans_1 \(room=\?\)/);
    for (const text of [settings, banned, list]) expect(text).not.toMatch(/TEMP B-TREE|SCAN/);
  });
});

describe("writes", () => {
  test("access writes that find the write lock taken wait for it on a timer, never on the event loop, then apply in call order", async () => {
    const store = open();
    await store.append([draft("warm-up")]); // the writing connection is open
    // Another connection holds the write lock, as the checkpointer does to start the WAL over or
    // for a retention chunk. A transaction (ban, settings) and a lone statement (unban) both wait.
    const holder = peek(store.file);
    holder.exec("BEGIN IMMEDIATE");
    const settled: string[] = [];
    const calls = [
      store.ban("r", "u1", {}, 1000).then(() => settled.push("ban u1")),
      store.setRoomSettings("r", { private: true }).then(() => settled.push("settings")),
      store.ban("r", "u2", {}, 1000).then(() => settled.push("ban u2")),
      store.unban("r", "u2").then(() => settled.push("unban u2")),
    ];
    // The event loop goes on meanwhile: a timer fires on time, reads answer, nothing is applied.
    const asked = performance.now();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(performance.now() - asked).toBeLessThan(1000);
    expect(await store.isBanned("r", "u1", 1000)).toBe(false);
    expect(await store.roomSettings("r")).toEqual({ private: false });
    expect(settled).toEqual([]);
    holder.exec("COMMIT");
    await Promise.all(calls);
    expect(settled).toEqual(["ban u1", "settings", "ban u2", "unban u2"]);
    expect(await store.isBanned("r", "u1", 1000)).toBe(true);
    expect(await store.isBanned("r", "u2", 1000)).toBe(false);
    expect(await store.roomSettings("r")).toEqual({ private: true });
  });

  test("a room's ended bans are deleted with its next ban; those in effect and other rooms' stay", async () => {
    const store = open();
    await store.ban("r", "ended", { until: 2000 }, 1000);
    await store.ban("r", "lasting", {}, 1000);
    await store.ban("r", "later", { until: 9000 }, 1000);
    await store.ban("s", "ended elsewhere", { until: 2000 }, 1000);
    await store.ban("r", "new", {}, 3000);
    const rows = peek(store.file).query("SELECT room, user_id FROM bans ORDER BY room, user_id").all();
    expect(rows).toEqual([
      { room: "r", user_id: "lasting" },
      { room: "r", user_id: "later" },
      { room: "r", user_id: "new" },
      { room: "s", user_id: "ended elsewhere" },
    ]);
  });
});

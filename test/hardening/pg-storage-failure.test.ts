// A storage failure on a real PostgreSQL (no mocks), as storage-failure.test.ts does on SQLite: the
// database turned read-only, and every connection of the server cut. The sender gets
// `unavailable` with its clientId, nothing is broadcast or stored, reads and joins go on, and
// sends work again once the database does.
import { expect, test } from "bun:test";
import { SQL } from "bun";
import { openPgStore } from "../../src/store/pg";
import { Client, defer, startServer } from "../helpers";
import { usePostgres } from "../pg";

const pg = usePostgres();

test("a read-only database: unavailable with the clientId, reads and joins go on, recovery with the same clientId stored once", async () => {
  const url = await pg.server.createDatabase();
  const database = new URL(url).pathname.slice(1);
  const admin = new SQL({ url: pg.server.url(), max: 1 });
  defer(() => admin.close());
  // The setting applies to new sessions: the server's open connections are cut, and the pool opens new ones.
  const readOnly = async (on: boolean) => {
    await admin.unsafe(on ? `alter database ${database} set default_transaction_read_only = on` : `alter database ${database} reset default_transaction_read_only`);
    await admin.unsafe(`select pg_terminate_backend(pid) from pg_stat_activity where datname = '${database}'`);
  };
  const store = await openPgStore(url);
  const server = await startServer({ store, storeKind: "postgres", rateLimit: 0 });
  const lobby = server.wsUrl("lobby");
  const sender = await Client.joined(lobby, "ada");
  const bystander = await Client.joined(lobby, "bob");
  sender.send({ type: "message", message: "before", clientId: "c0" });
  const first = await sender.next("message", (f) => f.clientId === "c0");
  expect((await bystander.next("message")).id).toBe(first.id);

  await readOnly(true);
  for (let i = 1; i <= 3; i++) sender.send({ type: "message", message: `during ${i}`, clientId: `c${i}` });
  for (let i = 1; i <= 3; i++) expect((await sender.next("error", (f) => f.clientId === `c${i}`)).code).toBe("unavailable");

  expect(await (await fetch(`${server.base}/health`)).json()).toMatchObject({ ok: true, store: "postgres" });
  const late = await Client.joined(lobby, "carol");
  expect(late.history.map((m) => m.id)).toEqual([first.id]);

  await readOnly(false);
  // A batch on a connection that was cut fails too (Bun's pool hands out each dead connection
  // once more before it drops it): the client resends with the same clientId, as a client does
  // after `unavailable`, until it is stored.
  let recovered: any;
  for (let attempt = 1; !recovered; attempt++) {
    sender.send({ type: "message", message: "during 3", clientId: "c3" });
    const reply = await sender.next(undefined, (f) => f.clientId === "c3" && (f.type === "message" || f.type === "error"));
    if (reply.type === "message") recovered = reply;
    else {
      expect(reply.code).toBe("unavailable");
      expect(attempt).toBeLessThanOrEqual(11); // at most one per connection of the pool (10)
    }
  }
  expect(recovered.id).toBeGreaterThan(first.id);
  expect((await bystander.next("message")).id).toBe(recovered.id);
  expect(bystander.frames.filter((f) => f.type === "message").map((m) => m.id)).toEqual([first.id, recovered.id]);
  const stored = (await (await fetch(`${server.base}/rooms/lobby/messages`)).json()) as { messages: { id: number }[] };
  expect(stored.messages.map((m) => m.id)).toEqual([first.id, recovered.id]);
  expect(sender.closed).toBeUndefined();
});

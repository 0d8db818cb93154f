// Storage failures on the real SQLite engine (no mocks): a full database (max_page_count) and a
// read-only connection (query_only). The sender gets `unavailable` with its clientId, nothing is
// broadcast or stored, the server keeps serving, and it recovers when the disk does.
import { expect, test } from "bun:test";
import { join } from "node:path";
import { openSqliteStore } from "../../src/store/sqlite";
import { Client, startServer, tempDir } from "../helpers";

type Store = ReturnType<typeof openSqliteStore>;
// Set on the store's writing connection (its worker thread): these PRAGMAs are per connection.
type Fault = { name: string; break: (store: Store) => Promise<void>; heal: (store: Store) => Promise<void> };

const faults: Fault[] = [
  {
    name: "disk full (PRAGMA max_page_count)",
    // SQLite never sets the limit below the pages in use: after a VACUUM has emptied the free
    // list (a migration dropped an index), this makes the database exactly full.
    break: (store) => store.execOnWriter("VACUUM; PRAGMA max_page_count = 1"),
    heal: (store) => store.execOnWriter("PRAGMA max_page_count = 1073741823"),
  },
  {
    name: "read-only database (PRAGMA query_only)",
    break: (store) => store.execOnWriter("PRAGMA query_only = ON"),
    heal: (store) => store.execOnWriter("PRAGMA query_only = OFF"),
  },
];

for (const fault of faults) {
  test(`${fault.name}: unavailable with the clientId, no phantom broadcast, recovery`, async () => {
    const store = openSqliteStore(join(tempDir(), "chat.db"));
    const server = await startServer({ store, rateLimit: 0 });
    const url = server.wsUrl("lobby");
    const sender = await Client.joined(url, "ada");
    const bystander = await Client.joined(url, "bob");
    sender.send({ type: "message", message: "before", clientId: "c0" });
    const first = await sender.next("message", (f) => f.clientId === "c0");
    expect((await bystander.next("message")).id).toBe(first.id);

    await fault.break(store);
    // 6 KB each (2000 three-byte characters): more than a page, so even one alone needs a new
    // page; several in one turn (one batch), then one alone.
    const big = "\u20ac".repeat(2000);
    for (let i = 1; i <= 5; i++) sender.send({ type: "message", message: big, clientId: `c${i}` });
    for (let i = 1; i <= 5; i++) {
      const error = await sender.next("error", (f) => f.clientId === `c${i}`);
      expect(error.code).toBe("unavailable");
    }
    sender.send({ type: "message", message: big, clientId: "c6" });
    expect((await sender.next("error", (f) => f.clientId === "c6")).code).toBe("unavailable");

    // The server keeps serving: health, history reads and joins work while writes fail.
    expect((await fetch(`${server.base}/health`)).status).toBe(200);
    const late = await Client.joined(url, "carol");
    expect(late.history.map((m) => m.id)).toEqual([first.id]);
    const page = (await (await fetch(`${server.base}/rooms/lobby/messages`)).json()) as { messages: { id: number }[] };
    expect(page.messages.map((m) => m.id)).toEqual([first.id]);

    await fault.heal(store);
    // A retry with the same clientId goes through once: no duplicate, no phantom of the failed try.
    sender.send({ type: "message", message: big, clientId: "c6" });
    const recovered = await sender.next("message", (f) => f.clientId === "c6");
    expect(recovered.id).toBeGreaterThan(first.id);
    // The bystander's next message after `before` is the recovered one: nothing was broadcast meanwhile.
    const next = await bystander.next("message");
    expect(next.id).toBe(recovered.id);
    expect(bystander.frames.filter((f) => f.type === "message").map((m) => m.id)).toEqual([first.id, recovered.id]);
    expect((await late.next("message")).id).toBe(recovered.id);
    const after = (await (await fetch(`${server.base}/rooms/lobby/messages`)).json()) as { messages: { id: number; message: string }[] };
    expect(after.messages.map((m) => m.id)).toEqual([first.id, recovered.id]);
    expect(sender.closed).toBeUndefined();
    expect(bystander.closed).toBeUndefined();
  });
}

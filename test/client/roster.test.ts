// The typed client's `online` (src/client/roster.ts) against the real app: right in a room past
// 50 names (where joined/left carry only a name and the count), two tabs of one name included;
// and a join refused by the join limit is made again on the same socket once allowed.
import { expect, test } from "bun:test";
import { connect, type ErrorFrame } from "../../src/client/index";
import { Client, defer, startServer } from "../helpers";
import { say } from "../http/lib";
import { watch } from "./scenario";

function open(url: string, room: string, name: string) {
  const w = watch(connect({ url, room, name, backoff: { initialMs: 50, maxMs: 400 } }));
  defer(() => w.client.close());
  return w;
}

test("online stays exact in a room of more than 50 names, through leaves of names that have another tab", async () => {
  const server = await startServer();
  const url = server.wsUrl("big");
  const members = new Map<string, Client[]>();
  const add = async (name: string) => members.set(name, [...(members.get(name) ?? []), await Client.joined(url, name)]);
  for (let i = 0; i < 54; i++) await add(`m${i}`);
  await add("m3"); // m3 has two tabs
  const ann = open(server.base, "big", "ann");
  await ann.until(() => ann.client.state === "online", "ann online");
  expect(ann.client.online.length).toBe(55);
  const names = () => ["ann", ...[...members].filter(([, tabs]) => tabs.some((t) => !t.closed)).map(([n]) => n)];
  const leave = async (name: string, tab = 0) => {
    const client = members.get(name)![tab]!;
    client.close();
    await client.waitClose();
  };
  /** A message after the changes: the room sends its held presence first, so once ann has it, she has heard everything. */
  const settled = async () => {
    const marker = await say(members.get("m0")![0]!, "marker");
    await ann.until(() => ann.seen.some((m) => m.id === marker.id), "the marker");
  };

  // A burst, faster than the room announces changes: m3 leaves through one tab of two, m11
  // leaves, m10 leaves and comes back on a new socket, two new names come.
  await leave("m3");
  await leave("m10");
  await leave("m11");
  await add("n1");
  await add("n2");
  await add("m10");
  await settled();
  expect(ann.client.online.sort()).toEqual(names().sort());
  expect(ann.client.online).toContain("m3");
  expect(ann.client.online).not.toContain("m11");

  // m3's last tab goes: now the name is gone.
  await leave("m3", 1);
  await settled();
  expect(ann.client.online.sort()).toEqual(names().sort());
  expect(ann.client.online).not.toContain("m3");
});

test("a join refused by the join limit is made again on the same socket once allowed", async () => {
  const server = await startServer({ joinRate: 2, joinBurst: 1 });
  await Client.joined(server.wsUrl("lobby"), "first"); // the address's burst
  const ann = open(server.base, "lobby", "ann");
  const errors: ErrorFrame[] = [];
  ann.client.on("error", (e) => errors.push(e));
  await ann.until(() => ann.client.state === "online", "ann online after her refused join", 5000);
  expect(errors.map((e) => e.code)).toContain("rate_limited");
  expect(ann.states).not.toContain("reconnecting"); // same socket: no reconnect
  expect(ann.client.online.sort()).toEqual(["ann", "first"]);
});

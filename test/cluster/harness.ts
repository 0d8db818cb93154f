// A cluster of compiled ./chat-server nodes, as an operator runs one: one PostgreSQL (the test
// file's own, test/pg.ts; a fresh database per cluster), one redis-server (the test's own,
// test/redis.ts), and N nodes started from empty folders with DATABASE_URL and REDIS_URL.
// Everything is black-box: sockets, REST and /health, never the server's modules.
//
// Every limit that counts per client IP is off or raised: all the tests' clients come from
// 127.0.0.1, and the limits are per node anyway (README, "Running several nodes").
import { existsSync } from "node:fs";
import { BINARY, Client, startBinary, type RunningBinary } from "../helpers";
import { usePostgres } from "../pg";
import { startRedis, type TestRedis } from "../redis";

if (!existsSync(BINARY)) throw new Error(`${BINARY} is missing: run \`npm run build\` first`);

export interface Node extends RunningBinary {
  /** "a", "b", "c"...: for failure messages. */
  readonly label: string;
  health(): Promise<any>;
  /** SIGKILL and wait for the exit: the node says goodbye to no one (no `left`, no Redis cleanup). */
  kill9(): Promise<void>;
}

export interface Cluster {
  readonly databaseUrl: string;
  readonly redis: TestRedis;
  readonly nodes: Node[];
  /** One more node on the same database and Redis (e.g. to restart a killed one's role). */
  addNode(env?: Record<string, string>): Promise<Node>;
  /** `CLIENT KILL TYPE pubsub` through a connection of our own: every node's subscriber drops. Resolves with how many. */
  killSubscribers(): Promise<number>;
  /** Connections in pub/sub mode right now (`CLIENT LIST TYPE pubsub`): a node holding its rooms' channels has one. */
  subscribers(): Promise<number>;
}

/** Environment each node gets beyond DATABASE_URL and REDIS_URL. */
export const NODE_ENV: Record<string, string> = {
  CHAT_RATE_LIMIT: "0",
  CHAT_JOIN_RATE: "0",
  CHAT_MAX_CONNECTIONS_PER_IP: "0",
  CHAT_MAX_HTTP_CONNECTIONS_PER_IP: "0",
  CHAT_LOG_LEVEL: "info",
};

/** One PostgreSQL for the calling test file; `start(n)` makes a cluster of n nodes on a fresh database and a fresh Redis. */
export function useCluster() {
  const pg = usePostgres();
  return {
    async start(count: number, env: Record<string, string> = {}): Promise<Cluster> {
      const [databaseUrl, redis] = await Promise.all([pg.server.createDatabase(), startRedis()]);
      const nodes: Node[] = [];
      const addNode = async (extra: Record<string, string> = {}) => {
        const label = String.fromCharCode(97 + nodes.length);
        const node = await startNode(label, { ...NODE_ENV, DATABASE_URL: databaseUrl, REDIS_URL: redis.url, ...env, ...extra });
        nodes.push(node);
        return node;
      };
      // One after the other: nodes started at once are pg-binary.test.ts's business (the
      // migration lock), and a serial start keeps the labels in start order.
      for (let i = 0; i < count; i++) await addNode();
      return {
        databaseUrl,
        redis,
        nodes,
        addNode,
        async killSubscribers() {
          return Number(await redis.command("CLIENT", ["KILL", "TYPE", "pubsub"]));
        },
        async subscribers() {
          return String(await redis.command("CLIENT", ["LIST", "TYPE", "pubsub"])).split("\n").filter(Boolean).length;
        },
      };
    },
  };
}

async function startNode(label: string, env: Record<string, string>): Promise<Node> {
  const running = await startBinary({ env });
  return Object.assign(running, {
    label,
    health: async () => (await fetch(`${running.base}/health`)).json(),
    async kill9() {
      running.proc.kill("SIGKILL");
      await running.proc.exited;
    },
  });
}

// ---- what the clients saw ----

export type Joined = Client & { history: any[] };

/** Joins `room` on `node` as `name`; the joiner's history frame is kept as `historyFrame`. */
export async function join(node: Node, room: string, name: string, extra: Record<string, unknown> = {}) {
  const client = await Client.open(node.wsUrl(room));
  client.send({ type: "join", name, ...extra });
  const historyFrame = await client.next("history");
  await client.next("joined", (f) => f.name === name);
  return Object.assign(client, { history: historyFrame.messages as any[], historyFrame });
}

/** The message frames a client has received so far, in arrival order (history not included). */
export const messagesOf = (client: Client) => client.frames.filter((f) => f.type === "message");

/** Waits until `client` has received a message frame matching `match` (consuming nothing: next() cursors stay). */
export async function waitForMessage(client: Client, match: (m: any) => boolean, what: string, timeoutMs = 10_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = messagesOf(client).find(match);
    if (found) return found;
    if (client.closed) throw new Error(`${what}: the socket closed (${client.closed.code})`);
    if (Date.now() > deadline) throw new Error(`${what}: not received within ${timeoutMs} ms; last frames ${JSON.stringify(client.frames.slice(-3))}`);
    await frameOrTimeout(client, deadline);
  }
}

/** Waits until `client` has received every message whose text is in `texts` (e.g. a stream's). */
export async function waitForTexts(client: Client, texts: string[], what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const wanted = new Set(texts);
  for (;;) {
    const got = new Set(messagesOf(client).map((m) => m.message));
    const missing = [...wanted].filter((t) => !got.has(t));
    if (!missing.length) return;
    if (client.closed) throw new Error(`${what}: the socket closed (${client.closed.code}) with ${missing.length} missing`);
    if (Date.now() > deadline) throw new Error(`${what}: ${missing.length} of ${wanted.size} never arrived within ${timeoutMs} ms (first missing: ${missing.slice(0, 3).join(", ")})`);
    await frameOrTimeout(client, deadline);
  }
}

/** Waits for a frame of this type matching `match`, among all frames so far or to come. */
export async function waitForFrame(client: Client, type: string, match: (f: any) => boolean, what: string, timeoutMs = 10_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = client.frames.find((f) => f.type === type && match(f));
    if (found) return found;
    if (client.closed) throw new Error(`${what}: the socket closed (${client.closed.code})`);
    if (Date.now() > deadline) throw new Error(`${what}: no such ${type} frame within ${timeoutMs} ms; last frames ${JSON.stringify(client.frames.slice(-3))}`);
    await frameOrTimeout(client, deadline);
  }
}

/** Resolves at the client's next frame or close, or at the deadline. */
function frameOrTimeout(client: Client, deadline: number): Promise<void> {
  return new Promise((resolve) => {
    const ws = client.ws;
    const done = () => {
      clearTimeout(timer);
      ws.removeEventListener("message", done);
      ws.removeEventListener("close", done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, deadline - Date.now()));
    ws.addEventListener("message", done);
    ws.addEventListener("close", done);
  });
}

/** Sends a message and resolves with its acknowledgement (the sender's own copy). */
export async function say(client: Client, message: string, clientId = `${message}#${Math.random().toString(36).slice(2, 8)}`, timeoutMs = 10_000): Promise<any> {
  client.send({ type: "message", message, clientId });
  return waitForMessage(client, (m) => m.clientId === clientId, `the ack of "${message}"`, timeoutMs);
}

/** A room's whole history from one node's REST, oldest first (paged forward with `after`). */
export async function restHistory(node: Node, room: string): Promise<any[]> {
  const all: any[] = [];
  for (let after = 0; ; ) {
    const response = await fetch(`${node.base}/rooms/${room}/messages?after=${after}&limit=200`);
    if (!response.ok) throw new Error(`GET /rooms/${room}/messages on node ${node.label}: ${response.status}`);
    const { messages } = (await response.json()) as { messages: any[] };
    all.push(...messages);
    if (messages.length < 200) return all;
    after = messages.at(-1).id;
  }
}

/** A counter's value on a node's /metrics (summed over its labels; 0 when absent). */
export async function metric(node: Node, name: string): Promise<number> {
  const text = await (await fetch(`${node.base}/metrics`)).text();
  return text
    .split("\n")
    .filter((line) => line.startsWith(name) && /^[a-z_]+(\{[^}]*\})? /.test(line) && line.split(/[{ ]/)[0] === name)
    .reduce((sum, line) => sum + Number(line.split(" ").at(-1)), 0);
}

/** `online` of a room in GET /rooms on a node (0 when it is not listed). */
export async function listedOnline(node: Node, room: string): Promise<number> {
  const { rooms } = (await (await fetch(`${node.base}/rooms?limit=1000`)).json()) as { rooms: { room: string; online: number }[] };
  return rooms.find((r) => r.room === room)?.online ?? 0;
}

/**
 * Polls a REST answer until it satisfies `ok`: GET /rooms has no event to wait for. Each try is a
 * request; the pause between them only spaces the requests out, the deadline is what fails.
 */
export async function eventually<T>(read: () => Promise<T>, ok: (value: T) => boolean, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(value)} after ${timeoutMs} ms`);
    await Bun.sleep(50);
  }
}

/**
 * What a member's log must be: the room's history from REST (ids, texts, names, timestamps),
 * each message once, in id order (or in any order, with `inIdOrder: false`).
 */
export function expectLogEquals(log: any[], history: any[], who: string, { inIdOrder = true } = {}) {
  if (!inIdOrder) log = log.toSorted((x, y) => x.id - y.id);
  const ids = log.map((m) => m.id);
  const duplicates = ids.filter((id, i) => ids.indexOf(id) !== i);
  if (duplicates.length) throw new Error(`${who}: got ids ${duplicates.slice(0, 5).join(", ")} more than once`);
  const outOfOrder = ids.findIndex((id, i) => i > 0 && id <= ids[i - 1]);
  if (outOfOrder > 0) throw new Error(`${who}: id ${ids[outOfOrder]} came after ${ids[outOfOrder - 1]}`);
  const want = history.map((m) => m.id);
  const missing = want.filter((id) => !ids.includes(id));
  if (missing.length) throw new Error(`${who}: missing ${missing.length} of ${want.length} messages (ids ${missing.slice(0, 5).join(", ")}...)`);
  const extra = ids.filter((id) => !want.includes(id));
  if (extra.length) throw new Error(`${who}: ids ${extra.slice(0, 5).join(", ")} are not in the room's history`);
  const strip = ({ id, room, name, message, timestamp }: any) => ({ id, room, name, message, timestamp });
  const got = log.map(strip);
  const expected = history.map(strip);
  for (let i = 0; i < got.length; i++) if (JSON.stringify(got[i]) !== JSON.stringify(expected[i])) throw new Error(`${who}: message ${i} is ${JSON.stringify(got[i])}, history says ${JSON.stringify(expected[i])}`);
}

// Small helpers shared by the contract tests: sending and awaiting acks, raw HTTP requests, and
// reading the database file from outside the server.
import { Database } from "bun:sqlite";
import { connect } from "node:net";
import { Client, defer } from "../helpers";

let counter = 0;
/** A fresh clientId. */
export const cid = (prefix = "c") => `${prefix}-${++counter}-${Math.random().toString(36).slice(2, 8)}`;

/** Sends a message with a clientId and resolves with its acknowledgement (the sender's copy). */
export async function say(client: Client, message: string, clientId = cid()): Promise<any> {
  client.send({ type: "message", message, clientId });
  return client.next("message", (f) => f.clientId === clientId);
}

/** The messages of a room as stored in the database file, read through a connection of our own. */
export function storedRows(dbPath: string, room?: string): { id: number; room: string; name: string; message: string; timestamp: number; client_id: string | null }[] {
  const db = new Database(dbPath, { readonly: true });
  try {
    const rows = room === undefined ? db.query("SELECT * FROM messages ORDER BY id").all() : db.query("SELECT * FROM messages WHERE room = ? ORDER BY id").all(room);
    return rows as any;
  } finally {
    db.close();
  }
}

/** One raw HTTP/1.1 request; resolves with the status line and headers and the start of the body. */
export function rawRequest(port: number, lines: string[]): Promise<{ status: number; head: string; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    defer(() => socket.destroy());
    let data = "";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer; got ${JSON.stringify(data)}`));
    }, 5000);
    const settle = () => {
      const end = data.indexOf("\r\n\r\n");
      if (end < 0) return false;
      clearTimeout(timer);
      const head = data.slice(0, end);
      resolve({ status: Number(head.split(" ")[1]), head, body: data.slice(end + 4) });
      socket.destroy();
      return true;
    };
    socket.on("data", (chunk) => {
      data += chunk.toString("latin1");
      // Wait for a little of the body too, when there is one.
      if (/content-length: *[1-9]/i.test(data) && !/\r\n\r\n./s.test(data)) return;
      settle();
    });
    socket.on("close", () => settle() || reject(new Error(`connection closed; got ${JSON.stringify(data)}`)));
    socket.on("error", reject);
    socket.write(`${lines.join("\r\n")}\r\n\r\n`);
  });
}

export const upgradeHeaders = (path: string, port: number) => [
  `GET ${path} HTTP/1.1`,
  `Host: 127.0.0.1:${port}`,
  "Upgrade: websocket",
  "Connection: Upgrade",
  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
  "Sec-WebSocket-Version: 13",
];

export type Ack = { id: number; message: string; name: string };

/**
 * Clients sending as fast as the server takes them, `inFlight` unacknowledged messages each,
 * until `stop()` or their socket closes: what kill -9 tests need. `acked` holds each ack by
 * clientId; `sent` counts what was sent (sent - acked.size are in flight).
 */
export function pumpMessages(clients: Client[], text: (name: string, i: number) => string, inFlight = 10) {
  const acked = new Map<string, Ack>();
  let stopped = false;
  let sent = 0;
  const pump = async (client: Client, name: string) => {
    const pending = new Set<Promise<unknown>>();
    for (let i = 0; !stopped && !client.closed; i++) {
      const clientId = `${name}-${i}`;
      const p = say(client, text(name, i), clientId).then(
        (m) => void acked.set(clientId, { id: m.id, message: m.message, name: m.name }),
        () => {},
      );
      sent++;
      pending.add(p);
      p.finally(() => pending.delete(p));
      if (pending.size >= inFlight) await Promise.race(pending);
    }
  };
  const done = Promise.all(clients.map((client, i) => pump(client, String.fromCharCode(97 + i))));
  return {
    acked,
    get sent() {
      return sent;
    },
    stop() {
      stopped = true;
    },
    done,
  };
}

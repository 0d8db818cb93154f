// Cross-Site WebSocket Hijacking: a browser Origin must be the server's own host or listed.
import { expect, test } from "bun:test";
import { Client, startServer } from "../helpers";
import { RawClient } from "./raw";

/** The HTTP answer to an upgrade request with these headers: status and whether it upgraded. */
async function upgrade(url: string, headers: Record<string, string>) {
  try {
    const raw = await RawClient.connect(url, { headers });
    raw.end();
    return 101;
  } catch (error) {
    const status = /upgrade refused: HTTP\/1\.1 (\d+)/.exec(String(error))?.[1];
    if (!status) throw error;
    return Number(status);
  }
}

test("hostile origins get 403 and no upgrade; own host, listed origins and no Origin pass", async () => {
  const server = await startServer({ origins: ["https://chat.example.com"] });
  const url = server.wsUrl("lobby");
  const host = new URL(server.base).host;

  expect(await upgrade(url, { Origin: "http://evil.example" })).toBe(403);
  expect(await upgrade(url, { Origin: `http://evil.example:${new URL(server.base).port}` })).toBe(403);
  expect(await upgrade(url, { Origin: "null" })).toBe(403);
  expect(await upgrade(url, { Origin: "not a url" })).toBe(403);
  // Same host name, other port: another origin.
  expect(await upgrade(url, { Origin: "http://127.0.0.1:1" })).toBe(403);

  expect(await upgrade(url, { Origin: `http://${host}` })).toBe(101);
  expect(await upgrade(url, { Origin: "https://chat.example.com" })).toBe(101);
  expect(await upgrade(url, {})).toBe(101);

  // The 403 is an HTTP answer with a body, not an upgrade.
  const refused = await fetch(url.replace("ws", "http"), {
    headers: { Origin: "http://evil.example", Upgrade: "websocket", Connection: "Upgrade", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13" },
  });
  expect(refused.status).toBe(403);
  expect(await refused.text()).toContain("origin");

  // Refused upgrades hold no connection slot and never reach the room.
  expect(server.app.decorator.chat.connections.size).toBe(0);
  const member = await Client.joined(url, "ada");
  expect(member.history).toEqual([]);
});

test("a browser WebSocket from the page's own origin works end to end", async () => {
  const server = await startServer();
  const client = await Client.open(server.wsUrl("lobby"), { headers: { Origin: server.base } });
  client.send({ type: "join", name: "ada" });
  await client.next("joined");
  await expect(Client.open(server.wsUrl("lobby"), { headers: { Origin: "https://evil.example" } })).rejects.toThrow();
});

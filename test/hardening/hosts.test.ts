// CHAT_HOSTS against the compiled binary: DNS rebinding gives a hostile page the server's
// address under the attacker's own name, so its requests carry that name in Host.
import { expect, test } from "bun:test";
import { startBinary } from "../helpers";
import { HttpConnection } from "./http-raw";
import { RawClient, until } from "./raw";

const ROUTES = ["/", "/health", "/rooms", "/rooms/lobby/messages", "/metrics", "/openapi", "/no-such-route"];

async function get(port: number, path: string, host: string) {
  const connection = await HttpConnection.open(port);
  try {
    return await connection.request(path, { Host: host });
  } finally {
    connection.end();
  }
}

async function upgrade(url: string, host: string) {
  try {
    (await RawClient.connect(url, { headers: { Host: host } })).end();
    return 101;
  } catch (error) {
    return Number(/upgrade refused: HTTP\/1\.1 (\d+)/.exec(String(error))?.[1] ?? NaN);
  }
}

test("binary: with CHAT_HOSTS an unlisted Host gets 421 on every route and no upgrade; listed ones pass, whatever the port", async () => {
  const server = await startBinary({ env: { CHAT_HOSTS: "chat.example.com, localhost,[::1]" } });
  const port = Number(new URL(server.base).port);
  const url = server.wsUrl("lobby");

  for (const host of ["chat.example.com", "chat.example.com:8443", "CHAT.Example.com.", "localhost", `localhost:${port}`, "[::1]", `[::1]:${port}`]) {
    expect((await get(port, "/health", host)).status).toBe(200);
    expect(await upgrade(url, host)).toBe(101);
  }
  const page = await get(port, "/", "chat.example.com");
  expect(page.status).toBe(200);
  expect(page.body).toContain("<!doctype html>");
  // The page's own scripts and styles are served under a listed host.
  for (const asset of page.body.match(/\/chunk-[\w-]+\.(js|css)/g) ?? []) expect((await get(port, asset, "localhost")).status).toBe(200);
  expect(page.body.match(/\/chunk-[\w-]+\.(js|css)/g)?.length).toBeGreaterThan(0);

  for (const host of ["evil.example", "evil.example:3000", `127.0.0.1:${port}`, "chat.example.com.evil.example", "[::2]:3000", ""]) {
    for (const path of ROUTES) {
      const answer = await get(port, path, host);
      expect([path, host, answer.status]).toEqual([path, host, 421]);
    }
    expect(await upgrade(url, host)).toBe(421);
  }
  const asset = (await get(port, "/", "localhost")).body.match(/\/chunk-[\w-]+\.js/)![0];
  expect((await get(port, asset, "evil.example")).status).toBe(421);
  await until(() => server.lines.some((l) => l.includes("Host not in the host list")), 3000, "the log line");
});

test("binary: without CHAT_HOSTS any Host is answered", async () => {
  const server = await startBinary();
  const port = Number(new URL(server.base).port);
  for (const host of ["evil.example", "anything:1", "[::1]"]) {
    expect((await get(port, "/health", host)).status).toBe(200);
    expect((await get(port, "/", host)).status).toBe(200);
    expect(await upgrade(server.wsUrl("lobby"), host)).toBe(101);
  }
});

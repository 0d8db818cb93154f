// Who the per-client caps count a client as: IPv6 by its /64, IPv4-mapped IPv6 as IPv4. Unit
// cases for the keying, then real sockets over [::1] and a dual-stack listener.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { createApp, type AppOptions } from "../../src/http/app";
import { clientKey, hostName } from "../../src/http/guards";
import { serve } from "../../src/http/serve";
import { openSqliteStore } from "../../src/store/sqlite";
import { Client, defer, tempDir } from "../helpers";
import { HttpConnection } from "./http-raw";
import { RawClient, until } from "./raw";

describe("clientKey", () => {
  test("IPv4 is itself", () => {
    expect(clientKey("203.0.113.7")).toBe("203.0.113.7");
    expect(clientKey("127.0.0.1")).toBe("127.0.0.1");
  });

  test("IPv6 is its /64, however it is written", () => {
    const key = "2001:db8:1:2::/64";
    for (const address of [
      "2001:db8:1:2::1",
      "2001:db8:1:2:ffff:ffff:ffff:ffff",
      "2001:0db8:0001:0002:0000:0000:0000:0009",
      "2001:DB8:1:2:a:b:c:d",
      "2001:db8:1:2:0:0:1.2.3.4",
      "[2001:db8:1:2::5]",
    ]) {
      expect([address, clientKey(address)]).toEqual([address, key]);
    }
    expect(clientKey("2001:db8:1:3::1")).not.toBe(key); // the next /64 is another client
    expect(clientKey("::1")).toBe("0:0:0:0::/64");
    expect(clientKey("::")).toBe("0:0:0:0::/64");
    expect(clientKey("2001:db8::")).toBe("2001:db8:0:0::/64");
    expect(clientKey("1::")).toBe("1:0:0:0::/64");
    expect(clientKey("::2:3:4:5:6:7:8")).toBe("0:2:3:4::/64");
  });

  test("a zone id is dropped: it names the link, not the host", () => {
    expect(clientKey("fe80::1%eth0")).toBe("fe80:0:0:0::/64");
    expect(clientKey("fe80::2%2")).toBe(clientKey("fe80::1"));
  });

  test("IPv4-mapped IPv6 is the IPv4 address, in any spelling", () => {
    for (const address of ["::ffff:192.0.2.1", "::FFFF:192.0.2.1", "0:0:0:0:0:ffff:192.0.2.1", "::ffff:c000:201", "[::ffff:192.0.2.1]"]) {
      expect([address, clientKey(address)]).toEqual([address, "192.0.2.1"]);
    }
    // Other embeddings (NAT64, IPv4-compatible) are IPv6 addresses of their own /64.
    expect(clientKey("64:ff9b::192.0.2.1")).toBe("64:ff9b:0:0::/64");
  });

  test("what does not parse is its own key", () => {
    for (const address of ["unknown", "1::2::3", "1:2:3:4:5:6:7:8:9", "::ffff:300.1.1.1", "2001:db8::g", "1:2:3:4:5:6:7"]) {
      expect(clientKey(address)).toBe(address);
    }
  });
});

describe("hostName", () => {
  test("drops the port, the brackets of an IPv6 literal and a final dot; lower-cases", () => {
    expect(hostName("Chat.Example.COM:8080")).toBe("chat.example.com");
    expect(hostName("chat.example.com.")).toBe("chat.example.com");
    expect(hostName("[::1]:3000")).toBe("::1");
    expect(hostName("[::1]")).toBe("::1");
    expect(hostName("::1")).toBe("::1");
    expect(hostName("[2001:DB8::1]:443")).toBe("2001:db8::1");
    expect(hostName("localhost")).toBe("localhost");
  });
});

/** The real app listening on `hostname` ("::" is dual-stack: Bun reports an IPv4 client as ::ffff:a.b.c.d). */
function listen(hostname: string, options: Partial<AppOptions> = {}) {
  const store = openSqliteStore(join(tempDir(), "chat.db"));
  const app = serve(createApp({ ...options, store }).app, { port: 0, hostname });
  defer(async () => {
    await app.stop(true);
    await store.close();
  });
  return { app, port: app.server.port! };
}

test("over [::1]: sockets and HTTP connections are counted under the client's /64", async () => {
  const { app, port } = listen("::1", { maxConnectionsPerIp: 2, maxHttpConnectionsPerIp: 5 });
  const url = `ws://[::1]:${port}/rooms/lobby/ws`;
  const member = await Client.open(url);
  member.send({ type: "join", name: "ada" });
  await member.next("joined");
  await Client.open(url);
  const { connections, guard } = app.decorator.chat;
  expect(connections.openFrom("0:0:0:0::/64")).toBe(2);
  expect(connections.openFrom("::1")).toBe(0);
  await expect(RawClient.connect(url)).rejects.toThrow("429");

  const http = await HttpConnection.open(port, { to: "::1" });
  defer(() => http.end());
  expect((await http.request("/health")).status).toBe(200);
  expect(guard.keepAlives.openFrom("0:0:0:0::/64")).toBe(1);
});

test("on a dual-stack listener an IPv4 client is keyed by its IPv4 address, not ::ffff:...", async () => {
  const { app, port } = listen("::", { maxHttpConnectionsPerIp: 5 });
  const v4 = await Client.open(`ws://127.0.0.1:${port}/rooms/lobby/ws`);
  const v6 = await Client.open(`ws://[::1]:${port}/rooms/lobby/ws`);
  const { connections, guard } = app.decorator.chat;
  await until(() => connections.size === 2, 2000, "both sockets to open");
  expect([...connections.sockets].map((ws) => ws.data.session.client).sort()).toEqual(["0:0:0:0::/64", "127.0.0.1"]);
  const http = await HttpConnection.open(port, { to: "127.0.0.1" });
  defer(() => http.end());
  expect((await http.request("/health")).status).toBe(200);
  expect(guard.keepAlives.openFrom("127.0.0.1")).toBe(1);
  v4.close();
  v6.close();
});

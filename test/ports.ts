// Free loopback ports for servers a test starts itself (PostgreSQL, redis-server, a binary that
// must come back on the same port after a restart).

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): number {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const { port } = probe;
  probe.stop(true);
  return port;
}

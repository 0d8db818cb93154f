/**
 * HTTP connections per client, as far as requests show them. Bun tells the app about requests,
 * not connections: a connection is known by its peer address and port from its first request,
 * and counted as open until Bun's idle timeout has passed since its last one (Bun closes it
 * then). A connection the client closed sooner is counted until then too; `clear()` after
 * `server.closeIdleConnections()` makes the count exact again (only requests in flight survive
 * that, and they are counted again by their next request).
 */
export class KeepAlives {
  /** client -> connection (peer address and port) -> when Bun will have closed it (ms). */
  private readonly byClient = new Map<string, Map<string, number>>();

  constructor(private readonly limits: { maxPerClient: number; idleMs: number }) {}

  get enabled() {
    return this.limits.maxPerClient > 0;
  }

  /** Counts a request's connection; false when it is a new one and its client is at the cap. */
  admit(client: string, connection: string, now: number): boolean {
    if (!this.enabled) return true;
    let open = this.byClient.get(client);
    if (!open) this.byClient.set(client, (open = new Map()));
    if (!open.has(connection) && open.size >= this.limits.maxPerClient) {
      this.expire(open, now);
      if (open.size >= this.limits.maxPerClient) return false;
    }
    open.set(connection, now + this.limits.idleMs);
    return true;
  }

  /** Connections counted for a client. */
  openFrom(client: string): number {
    return this.byClient.get(client)?.size ?? 0;
  }

  /** Forgets connections Bun has closed for idleness by now. */
  sweep(now: number) {
    for (const [client, open] of this.byClient) {
      this.expire(open, now);
      if (open.size === 0) this.byClient.delete(client);
    }
  }

  clear() {
    this.byClient.clear();
  }

  private expire(open: Map<string, number>, now: number) {
    for (const [connection, until] of open) if (until <= now) open.delete(connection);
  }
}

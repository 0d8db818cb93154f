/**
 * Token buckets keyed by client (IP), shared by all of its sockets and rooms: a burst of
 * `burst` messages, then `rate` per second. Pure and clock-injected, so tests need no sleeps.
 */
export class RateLimiter {
  private buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly rate: number,
    private readonly burst: number,
  ) {}

  get enabled() {
    return this.rate > 0;
  }

  /** Takes one token: 0 when allowed, else the milliseconds until one is available. */
  take(key: string, now: number): number {
    if (this.rate <= 0) return 0;
    let bucket = this.buckets.get(key);
    if (!bucket) this.buckets.set(key, (bucket = { tokens: this.burst, at: now }));
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.at) * this.rate) / 1000);
    bucket.at = now;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - bucket.tokens) * 1000) / this.rate);
  }

  /** The milliseconds until a token is available (0: one is), taking none. */
  peek(key: string, now: number): number {
    const bucket = this.buckets.get(key);
    if (this.rate <= 0 || !bucket) return 0;
    const tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.at) * this.rate) / 1000);
    return tokens >= 1 ? 0 : Math.ceil(((1 - tokens) * 1000) / this.rate);
  }

  /** Forgets buckets that have refilled: they hold nothing a fresh bucket would not. */
  sweep(now: number) {
    for (const [key, bucket] of this.buckets) {
      if (bucket.tokens + ((now - bucket.at) * this.rate) / 1000 >= this.burst) this.buckets.delete(key);
    }
  }

  get size() {
    return this.buckets.size;
  }
}

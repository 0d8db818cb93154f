/**
 * Exponential backoff with full jitter (a random delay in [0, min(max, initial * 2^attempt)))):
 * after a server restart, thousands of clients spread their reconnects instead of arriving at once.
 */
export class Backoff {
  private attempt = 0;

  constructor(
    readonly initialMs = 500,
    readonly maxMs = 15_000,
    private readonly random: () => number = Math.random,
  ) {}

  next(): number {
    const ceiling = Math.min(this.maxMs, this.initialMs * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 30); // 2^30 is past any sane maxMs
    return Math.floor(this.random() * ceiling);
  }

  /**
   * After a policy close (1008) the server asked us to go away: never come back sooner than half
   * the maximum, so a client that keeps getting refused cannot loop tightly.
   */
  penalty(): number {
    return Math.floor(this.maxMs / 2 + (this.random() * this.maxMs) / 2);
  }

  reset() {
    this.attempt = 0;
  }
}

// Seeded generators of malformed (and a few valid) client frames, shared by the fuzz tests.
/** mulberry32: a tiny seeded PRNG, so a failure can be replayed with the same seed. */
export function prng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const SEED = Number(process.env.FUZZ_SEED ?? 20261127);

export function generator(random: () => number) {
  const int = (n: number) => Math.floor(random() * n);
  const pick = <T>(items: T[]): T => items[int(items.length)]!;
  const chars = () => {
    let s = "";
    const n = int(40);
    for (let i = 0; i < n; i++) s += String.fromCharCode(pick([int(32), 32 + int(95), 0x80 + int(0x80), 0x200b + int(8), 0x202a + int(5), 0xd800 + int(0x800), int(0x10000)]));
    return s;
  };
  const junk = (depth: number): unknown => {
    switch (depth > 3 ? int(6) : int(9)) {
      case 0: return int(2) ? 1e308 * 10 : pick([2 ** 64, -(2 ** 63), 1e308, -0, 0.5, Number.MAX_SAFE_INTEGER + 2]);
      case 1: return chars();
      case 2: return pick([null, true, false]);
      case 3: return "x".repeat(int(3000));
      case 4: return int(1000) - 500;
      case 5: return pick(["join", "message", "history", "joined", "left", "error", "__proto__", "constructor"]);
      case 6: return Array.from({ length: int(5) }, () => junk(depth + 1));
      default: return Object.fromEntries(Array.from({ length: int(5) }, () => [pick(["type", "name", "message", "clientId", "since", "timestamp", "__proto__", chars()]), junk(depth + 1)]));
    }
  };
  /** One malformed (or occasionally valid) frame: a string, or bytes for a binary frame. */
  return (): string | Uint8Array<ArrayBuffer> => {
    switch (int(14)) {
      case 0: return chars(); // not JSON at all
      case 1: return JSON.stringify(junk(0)).slice(0, int(50)); // truncated JSON
      case 2: return JSON.stringify({ type: junk(1) });
      case 3: return JSON.stringify({ type: "message", message: junk(1), clientId: junk(1), timestamp: junk(1) });
      case 4: return JSON.stringify({ type: "join", name: junk(1), since: junk(1) });
      case 5: return JSON.stringify({ type: "join", name: `n${chars()}`.slice(0, 10) }); // control/zero-width/bidi/surrogates in names
      case 6: return JSON.stringify({ type: pick(["hello", "ping", "JOIN", "", "Message", "history"]), message: "x" });
      case 7: return `${"[".repeat(1 + int(20_000))}${int(2) ? "]".repeat(10) : ""}`; // deep nesting
      case 8: return `{"type":"message","message":"x","since":${"9".repeat(1 + int(400))}}`; // huge number literals
      case 9: return `{"type":"join","name":"a","__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}`;
      case 10: return crypto.getRandomValues(new Uint8Array(int(200))); // binary frame
      case 11: return JSON.stringify(junk(0));
      case 12: return JSON.stringify({ type: "message", message: `fuzz ${int(1e9)}`, clientId: `f${int(1e9)}` }); // valid (if joined)
      default: return JSON.stringify({ type: "join", name: `fuzzer${int(100)}` }); // valid join, or already_joined
    }
  };
}

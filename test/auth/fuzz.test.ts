// A seeded fuzz of malformed tokens: mutations of a valid one. Each must be refused with a
// TokenRefused (never accepted, never another error), whichever part of the token is broken.
import { beforeAll, expect, test } from "bun:test";
import { createTokenVerifier, type TokenSettings } from "../../src/auth/tokens";
import { TokenRefused } from "../../src/rooms/identity";
import type { TokenRefusal, TokenVerifier } from "../../src/rooms/ports";
import { keyFolder, keyPair, SECRET, sign } from "./keys";
import { mutations } from "./mutations";

async function fuzz(verifier: TokenVerifier, token: string, count: number, seed: number) {
  expect((await verifier.verify(token)).userId).toBe("user-1"); // the seed token itself is good
  const reasons = new Map<TokenRefusal, number>();
  for (const [i, mutated] of mutations(token, count, seed).entries()) {
    const outcome = await verifier.verify(mutated).then(
      (identity) => ({ accepted: identity }),
      (error: unknown) => ({ error }),
    );
    if ("accepted" in outcome || !(outcome.error instanceof TokenRefused)) {
      throw new Error(`mutation #${i} (seed ${seed}) ${JSON.stringify(mutated)}: ${"accepted" in outcome ? "accepted" : String(outcome.error)}`);
    }
    reasons.set(outcome.error.reason, (reasons.get(outcome.error.reason) ?? 0) + 1);
  }
  return reasons;
}

let hs: TokenVerifier;
let es: TokenVerifier;
let esToken: string;
const folder = keyFolder();
beforeAll(async () => {
  hs = (await createTokenVerifier({ authSecret: SECRET } as TokenSettings))!;
  const pair = await keyPair("ES256", folder.dir);
  es = (await createTokenVerifier({ authPublicKey: pair.path } as TokenSettings))!;
  esToken = await sign(pair.privateKey, { name: "ada", rooms: ["team-*"] }, { alg: "ES256" });
  folder.remove();
});

test("3,000 mutations of an HS256 token: each refused with a TokenRefused", async () => {
  const reasons = await fuzz(hs, await sign(SECRET, { name: "ada", rooms: ["team-*", "lobby"] }), 3000, 1401);
  // Every family of breakage was met, so the fuzz is not refusing everything for one reason.
  for (const reason of ["too_long", "malformed", "algorithm", "signature", "claims"] as const) expect(reasons.get(reason)).toBeGreaterThan(10);
});

test("1,000 mutations of an ES256 token: each refused with a TokenRefused", async () => {
  const reasons = await fuzz(es, esToken, 1000, 4403);
  for (const reason of ["malformed", "algorithm", "signature"] as const) expect(reasons.get(reason)).toBeGreaterThan(10);
});

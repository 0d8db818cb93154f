// signToken (POST /api/tokens): every token it issues passes the server's own verification, and
// a request that cannot become a good token is refused, naming the field.
import { beforeAll, describe, expect, test } from "bun:test";
import { decodeJwt, decodeProtectedHeader } from "jose";
import { InvalidTokenRequest, signToken, TOKEN_TTL_MAX_SECONDS } from "../../src/auth/sign";
import { createTokenVerifier, type TokenSettings } from "../../src/auth/tokens";
import { TokenRefused } from "../../src/rooms/identity";
import type { TokenVerifier } from "../../src/rooms/ports";
import { SECRET } from "./keys";

let verifier: TokenVerifier;
beforeAll(async () => {
  verifier = (await createTokenVerifier({ authSecret: SECRET } as TokenSettings))!;
});

const invalid = async (request: Parameters<typeof signToken>[0]) => {
  const error = await signToken(request, SECRET).then(
    () => new Error("signed"),
    (e: unknown) => e,
  );
  if (!(error instanceof InvalidTokenRequest)) throw error;
  return error.field;
};

describe("signToken", () => {
  test("a token the verifier accepts, with the claims asked for; an hour by default", async () => {
    const before = Date.now();
    const { token, expiresAt } = await signToken({ sub: "u-7", name: " ada ", rooms: ["team-*", "lobby"] }, SECRET);
    expect(await verifier.verify(token)).toEqual({ userId: "u-7", name: "ada", rooms: ["team-*", "lobby"] });
    expect(decodeProtectedHeader(token)).toEqual({ alg: "HS256", typ: "JWT" });
    const claims = decodeJwt(token);
    expect(claims.exp! * 1000).toBe(expiresAt);
    expect(expiresAt).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + 3600_000);
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + 3600_000);
    expect(await verifier.verify((await signToken({ sub: "bare" }, SECRET)).token)).toEqual({ userId: "bare" });
  });

  test("ttlSeconds sets the expiry, up to a day", async () => {
    const now = 1_700_000_000_000;
    expect((await signToken({ sub: "u", ttlSeconds: 60 }, SECRET, { now })).expiresAt).toBe(now + 60_000);
    expect((await signToken({ sub: "u", ttlSeconds: TOKEN_TTL_MAX_SECONDS }, SECRET, { now })).expiresAt).toBe(now + 86_400_000);
    for (const ttlSeconds of [0, -1, 1.5, TOKEN_TTL_MAX_SECONDS + 1, Number.NaN, Infinity]) expect(await invalid({ sub: "u", ttlSeconds })).toBe("ttlSeconds");
    // A token issued long ago has expired by now: the server refuses it.
    const old = await signToken({ sub: "u", ttlSeconds: 60 }, SECRET, { now: Date.now() - 120_000 });
    expect(await verifier.verify(old.token).catch((e: TokenRefused) => e.reason)).toBe("expired");
  });

  test("the server's issuer and audience go into its tokens, so they pass its own checks", async () => {
    const strict = (await createTokenVerifier({ authSecret: SECRET, authIssuer: "chat", authAudience: "app" } as TokenSettings))!;
    const { token } = await signToken({ sub: "u" }, SECRET, { issuer: "chat", audience: "app" });
    expect(await strict.verify(token)).toEqual({ userId: "u" });
    expect(await strict.verify((await signToken({ sub: "u" }, SECRET)).token).catch((e: TokenRefused) => e.reason)).toBe("claims");
  });

  test("a request that would make a bad token is refused, naming the field", async () => {
    for (const sub of ["", "x".repeat(129), "a\nb", 5 as unknown as string]) expect(await invalid({ sub })).toBe("sub");
    for (const name of ["", "x".repeat(33), "a\u200bb", null as unknown as string]) expect(await invalid({ sub: "u", name })).toBe("name");
    for (const rooms of [["a b"], ["x*y"], "lobby" as unknown as string[], [3 as unknown as string]]) expect(await invalid({ sub: "u", rooms })).toBe("rooms");
    // Joins refuse tokens over 4096 characters unread: such a token is never issued.
    const many = Array.from({ length: 300 }, (_, i) => `room-number-${i}`);
    expect(await invalid({ sub: "u", rooms: many })).toBe("rooms");
  });
});

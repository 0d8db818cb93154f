// CHAT_AUTH_JWKS_URL against a real key set served over HTTP on a free port: keys chosen by
// kid, one refetch for an unknown kid (not one per made-up kid), and an outage told apart.
import { beforeAll, describe, expect, test } from "bun:test";
import { exportJWK, generateKeyPair, type CryptoKey, type JWK } from "jose";
import { createTokenVerifier, type TokenSettings, type VerifierOptions } from "../../src/auth/tokens";
import { TokenRefused } from "../../src/rooms/identity";
import type { TokenRefusal, TokenVerifier } from "../../src/rooms/ports";
import { defer } from "../setup";
import { SECRET, sign, type Asymmetric } from "./keys";

interface SetKey {
  kid: string;
  alg: Asymmetric;
  privateKey: CryptoKey;
  jwk: JWK;
}

async function setKey(alg: Asymmetric, kid: string): Promise<SetKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, alg, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, use: "sig" } };
}

/** A key server: serves `keys` (changeable) and counts the fetches. */
function keyServer(initial: SetKey[]) {
  const state = { keys: initial, fetches: 0, status: 200 };
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch() {
      state.fetches++;
      if (state.status !== 200) return new Response("down", { status: state.status });
      return Response.json({ keys: state.keys.map((k) => k.jwk) });
    },
  });
  return Object.assign(state, { url: new URL("/.well-known/jwks.json", server.url).href, stop: () => server.stop(true) });
}

async function jwksVerifier(url: string, options?: VerifierOptions): Promise<TokenVerifier> {
  return (await createTokenVerifier({ authJwksUrl: url } as TokenSettings, options))!;
}

async function refusal(v: TokenVerifier, token: string): Promise<TokenRefusal> {
  const error = await v.verify(token).then(
    () => new Error("the token was accepted"),
    (e: unknown) => e,
  );
  if (!(error instanceof TokenRefused)) throw error;
  return error.reason;
}

const token = (k: SetKey, claims = {}, header: Record<string, unknown> = {}) => sign(k.privateKey, claims, { alg: k.alg, kid: k.kid, ...header });

describe("CHAT_AUTH_JWKS_URL", () => {
  const keys = {} as Record<string, SetKey>;
  beforeAll(async () => {
    keys.rsa = await setKey("RS256", "rsa-1");
    keys.ec = await setKey("ES256", "ec-1");
    keys.ed = await setKey("EdDSA", "ed-1");
    keys.late = await setKey("ES256", "ec-2");
    keys.rsa2 = await setKey("RS256", "rsa-2");
  });

  test("RS256, ES256 and EdDSA tokens are verified by the key their kid names; fetched once, then cached", async () => {
    const server = keyServer([keys.rsa!, keys.ec!, keys.ed!]);
    defer(server.stop);
    const v = await jwksVerifier(server.url);
    for (const k of [keys.rsa!, keys.ec!, keys.ed!]) expect(await v.verify(await token(k, { sub: k.kid }))).toEqual({ userId: k.kid });
    expect(server.fetches).toBe(1);
  });

  test("the wrong key: a kid of the set on a token signed by another key is refused", async () => {
    const server = keyServer([keys.rsa!, keys.ec!]);
    defer(server.stop);
    const v = await jwksVerifier(server.url);
    expect(await refusal(v, await sign(keys.late!.privateKey, {}, { alg: "ES256", kid: "ec-1" }))).toBe("signature");
    expect(await refusal(v, await sign(keys.rsa2!.privateKey, {}, { alg: "RS256", kid: "rsa-1" }))).toBe("signature");
  });

  test("an unknown kid triggers one refresh of the set, then the token verifies", async () => {
    const server = keyServer([keys.ec!]);
    defer(server.stop);
    const v = await jwksVerifier(server.url);
    expect(await v.verify(await token(keys.ec!))).toEqual({ userId: "user-1" });
    expect(server.fetches).toBe(1);
    server.keys = [keys.ec!, keys.late!]; // the issuer rotates a new key in
    expect(await v.verify(await token(keys.late!))).toEqual({ userId: "user-1" });
    expect(server.fetches).toBe(2);
    expect(await v.verify(await token(keys.late!))).toEqual({ userId: "user-1" });
    expect(server.fetches).toBe(2);
    // A kid the refreshed set still lacks: one more fetch, then refused.
    expect(await refusal(v, await sign(keys.rsa2!.privateKey, {}, { alg: "RS256", kid: "nobody" }))).toBe("unknown_key");
    expect(server.fetches).toBe(3);
  });

  test("made-up kids spend the refresh budget (3 at once, then one per 10 s), never more fetches than that", async () => {
    const server = keyServer([keys.ec!]);
    defer(server.stop);
    let clock = 1_000_000;
    const v = await jwksVerifier(server.url, { now: () => clock });
    expect(await v.verify(await token(keys.ec!))).toEqual({ userId: "user-1" });
    for (let i = 0; i < 50; i++) {
      expect(await refusal(v, await sign(keys.late!.privateKey, {}, { alg: "ES256", kid: `made-up-${i}` }))).toBe("unknown_key");
    }
    expect(server.fetches).toBe(1 + 3);
    // A key rotated in now is found once the bucket refills, with one fetch.
    server.keys = [keys.ec!, keys.late!];
    expect(await refusal(v, await token(keys.late!))).toBe("unknown_key");
    expect(server.fetches).toBe(4);
    clock += 10_000;
    expect(await v.verify(await token(keys.late!))).toEqual({ userId: "user-1" });
    expect(server.fetches).toBe(5);
    // Known kids never spend the budget.
    for (let i = 0; i < 10; i++) expect(await v.verify(await token(keys.ec!))).toEqual({ userId: "user-1" });
    expect(server.fetches).toBe(5);
  });

  test("concurrent tokens with a new kid share one fetch", async () => {
    const server = keyServer([keys.ec!]);
    defer(server.stop);
    const v = await jwksVerifier(server.url);
    expect(await v.verify(await token(keys.ec!))).toEqual({ userId: "user-1" });
    server.keys = [keys.ec!, keys.late!];
    const late = await token(keys.late!);
    const results = await Promise.all(Array.from({ length: 20 }, () => v.verify(late)));
    expect(results.every((r) => r.userId === "user-1")).toBe(true);
    expect(server.fetches).toBe(2);
  });

  test("a kid-less token is tried against each key of its type", async () => {
    const server = keyServer([keys.ec!, keys.late!]);
    defer(server.stop);
    const v = await jwksVerifier(server.url);
    expect(await v.verify(await sign(keys.late!.privateKey, {}, { alg: "ES256" }))).toEqual({ userId: "user-1" });
    expect(await v.verify(await sign(keys.ec!.privateKey, {}, { alg: "ES256" }))).toEqual({ userId: "user-1" });
    const stranger = await setKey("ES256", "x");
    expect(await refusal(v, await sign(stranger.privateKey, {}, { alg: "ES256" }))).toBe("signature");
  });

  test("HS256 and alg: none are refused against a key set (key confusion)", async () => {
    const server = keyServer([keys.rsa!]);
    defer(server.stop);
    const v = await jwksVerifier(server.url);
    expect(await refusal(v, await sign(JSON.stringify(keys.rsa!.jwk), {}, { alg: "HS256", kid: "rsa-1" }))).toBe("algorithm");
    expect(await refusal(v, await sign(SECRET, {}, { alg: "HS256" }))).toBe("algorithm");
    const none = `${Buffer.from('{"alg":"none","kid":"rsa-1"}').toString("base64url")}.${Buffer.from('{"sub":"u","exp":9999999999}').toString("base64url")}.AAAA`;
    expect(await refusal(v, none)).toBe("algorithm");
  });

  test("a key set that cannot be fetched is key_unavailable, not a bad token; it recovers", async () => {
    const server = keyServer([keys.ec!]);
    defer(server.stop);
    server.status = 503;
    const v = await jwksVerifier(server.url);
    expect(await refusal(v, await token(keys.ec!))).toBe("key_unavailable");
    server.status = 200;
    expect(await v.verify(await token(keys.ec!))).toEqual({ userId: "user-1" });

    const gone = keyServer([]);
    const url = gone.url;
    await gone.stop();
    expect(await refusal(await jwksVerifier(url), await token(keys.ec!))).toBe("key_unavailable");
  });
});

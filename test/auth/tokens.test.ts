// createTokenVerifier with real jose and real keys: every way a token may be wrong is refused
// with its own TokenRefused reason, and a good one gives the identity its claims describe.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { SignJWT } from "jose";
import { createTokenVerifier, isCanonicalCompactJws, type TokenSettings } from "../../src/auth/tokens";
import { ConfigError } from "../../src/config";
import { roomAllowed, TokenRefused } from "../../src/rooms/identity";
import type { TokenRefusal, TokenVerifier } from "../../src/rooms/ports";
import { hmacToken, keyFolder, keyPair, SECRET, sign, unsigned, type Asymmetric, type KeyPair } from "./keys";

const folder = keyFolder();
afterAll(folder.remove);

const verifier = async (settings: Partial<TokenSettings>): Promise<TokenVerifier> => {
  const created = await createTokenVerifier(settings as TokenSettings);
  if (!created) throw new Error("no verifier");
  return created;
};

/** The reason verify() refuses the token with; fails the test if it is accepted or throws anything else. */
async function refusal(v: TokenVerifier, token: string): Promise<TokenRefusal> {
  try {
    await v.verify(token);
  } catch (error) {
    if (!(error instanceof TokenRefused)) throw new Error(`not a TokenRefused: ${String(error)}`);
    return error.reason;
  }
  throw new Error("the token was accepted");
}

const now = () => Math.floor(Date.now() / 1000);

describe("HS256 with CHAT_AUTH_SECRET", () => {
  let hs: TokenVerifier;
  beforeAll(async () => {
    hs = await verifier({ authSecret: SECRET });
  });

  test("no key configured: no verifier (the server is open)", async () => {
    expect(await createTokenVerifier({} as TokenSettings)).toBeUndefined();
  });

  test("a good token gives its identity: sub, normalized name, rooms", async () => {
    expect(await hs.verify(await sign(SECRET, { sub: "u-42" }))).toEqual({ userId: "u-42" });
    const token = await sign(SECRET, { sub: "u-42", name: "  Ade\u0301la ", rooms: ["team-*", "lobby"] });
    expect(await hs.verify(token)).toEqual({ userId: "u-42", name: "Adéla", rooms: ["team-*", "lobby"] });
  });

  test("a token for a room outside its rooms claim: verified, but the room is not allowed", async () => {
    const identity = await hs.verify(await sign(SECRET, { rooms: ["team-*", "lobby"] }));
    expect(roomAllowed(identity, "lobby")).toBe(true);
    expect(roomAllowed(identity, "team-red", true)).toBe(true);
    expect(roomAllowed(identity, "random")).toBe(false);
    expect(roomAllowed(identity, "team", true)).toBe(false);
    const noClaim = await hs.verify(await sign(SECRET));
    expect(roomAllowed(noClaim, "random")).toBe(true);
    expect(roomAllowed(noClaim, "random", true)).toBe(false);
  });

  test("a forged signature (another secret) is refused", async () => {
    expect(await refusal(hs, await sign("another-secret-that-is-long-enough-too"))).toBe("signature");
  });

  test("a token whose payload was changed after signing is refused", async () => {
    const [header, , signature] = (await sign(SECRET, { sub: "user-1" })).split(".");
    const payload = Buffer.from(JSON.stringify({ sub: "admin", exp: now() + 3600 })).toString("base64url");
    expect(await refusal(hs, `${header}.${payload}.${signature}`)).toBe("signature");
  });

  test("alg: none is refused, with or without a signature", async () => {
    const token = unsigned({ sub: "user-1", exp: now() + 3600 });
    expect(await refusal(hs, token)).toBe("malformed"); // an empty signature is no base64url segment
    const withSignature = `${token}${(await sign(SECRET)).split(".")[2]}`;
    expect(await refusal(hs, withSignature)).toBe("algorithm");
  });

  test("expired, and nbf in the future", async () => {
    expect(await refusal(hs, await sign(SECRET, { exp: now() - 10 }))).toBe("expired");
    expect(await refusal(hs, await sign(SECRET, { nbf: now() + 600 }))).toBe("not_yet_valid");
    expect(await hs.verify(await sign(SECRET, { nbf: now() - 5 }))).toEqual({ userId: "user-1" });
  });

  test("without sub, or without exp, refused", async () => {
    const noSub = await new SignJWT({ exp: now() + 60 }).setProtectedHeader({ alg: "HS256" }).sign(new TextEncoder().encode(SECRET));
    const noExp = await new SignJWT({ sub: "u" }).setProtectedHeader({ alg: "HS256" }).sign(new TextEncoder().encode(SECRET));
    expect(await refusal(hs, noSub)).toBe("claims");
    expect(await refusal(hs, noExp)).toBe("claims");
    expect(await refusal(hs, await sign(SECRET, { exp: "tomorrow" as unknown as number }))).toBe("claims");
    // 1e999 parses as Infinity: a number to jose, and a token that never expires.
    expect(await refusal(hs, hmacToken({ alg: "HS256" }, '{"sub":"u","exp":1e999}'))).toBe("claims");
  });

  test("claims of the wrong shape: sub over 128 characters or not a string, a name the name rules refuse, bad rooms", async () => {
    expect(await hs.verify(await sign(SECRET, { sub: "x".repeat(128) }))).toEqual({ userId: "x".repeat(128) });
    for (const claims of [
      { sub: "x".repeat(129) },
      { sub: "" },
      { sub: 42 },
      { sub: "a\nforged log line" },
      { name: "" },
      { name: "x".repeat(33) },
      { name: "ad\u200Ba" }, // a zero-width space: it would let one name pass for another
      { name: 7 },
      { rooms: "lobby" },
      { rooms: ["lobby", "a*b"] },
      { rooms: ["bad room"] },
      { rooms: [1] },
    ]) {
      expect(await refusal(hs, await sign(SECRET, claims as Record<string, unknown>))).toBe("claims");
    }
  });

  test("a token over 4096 characters is refused before any parsing; 4096 is still read", async () => {
    expect(await refusal(hs, "x".repeat(4097))).toBe("too_long");
    const padded = await sign(SECRET, { pad: "" });
    const exact = await sign(SECRET, { pad: "p".repeat(Math.floor(((4096 - padded.length) * 3) / 4)) });
    expect(exact.length).toBeLessThanOrEqual(4096);
    expect(exact.length).toBeGreaterThan(4090);
    expect(await hs.verify(exact)).toEqual({ userId: "user-1" });
    const over = await sign(SECRET, { pad: "p".repeat(4000) });
    expect(await refusal(hs, over)).toBe("too_long");
  });

  test("a second spelling of a signature (spare bits of its last character set) is refused", async () => {
    const token = await sign(SECRET);
    // 32 bytes of HMAC are 43 characters: the last one carries 2 spare bits.
    const last = token.at(-1)!;
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const twin = token.slice(0, -1) + alphabet[alphabet.indexOf(last) | 1];
    expect(Buffer.from(twin.split(".")[2]!, "base64url")).toEqual(Buffer.from(token.split(".")[2]!, "base64url"));
    expect(isCanonicalCompactJws(token)).toBe(true);
    expect(await refusal(hs, twin)).toBe("malformed");
  });

  test("wrong iss or aud are refused when the server has them; right ones pass", async () => {
    const strict = await verifier({ authSecret: SECRET, authIssuer: "https://app.example", authAudience: "chat" });
    const good = { iss: "https://app.example", aud: "chat" };
    expect(await strict.verify(await sign(SECRET, good))).toEqual({ userId: "user-1" });
    expect(await strict.verify(await sign(SECRET, { ...good, aud: ["other", "chat"] }))).toEqual({ userId: "user-1" });
    expect(await refusal(strict, await sign(SECRET, { ...good, iss: "https://evil.example" }))).toBe("issuer");
    expect(await refusal(strict, await sign(SECRET, { ...good, aud: "other" }))).toBe("audience");
    expect(await refusal(strict, await sign(SECRET, { aud: "chat" }))).toBe("claims"); // no iss at all
    // Without a configured issuer, iss is not checked.
    expect(await hs.verify(await sign(SECRET, { iss: "anyone" }))).toEqual({ userId: "user-1" });
  });

  test("a refusal carries its reason only: never the token, nor a claim's value", async () => {
    const token = await sign("another-secret-that-is-long-enough-too", { sub: "user-secret-id", name: "Secret Name" });
    const error = await hs.verify(token).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TokenRefused);
    const shown = `${String(error)} ${JSON.stringify(error)} ${(error as Error).stack}`;
    for (const part of [...token.split("."), "user-secret-id", "Secret Name"]) expect(shown).not.toContain(part);
  });

  test("an unknown critical header is refused", async () => {
    const claims = { sub: "u", exp: now() + 60 };
    expect(await hs.verify(hmacToken({ alg: "HS256" }, claims))).toEqual({ userId: "u" }); // the hand-signed token is good
    expect(await refusal(hs, hmacToken({ alg: "HS256", crit: ["x-unknown"], "x-unknown": 1 }, claims))).toBe("malformed");
    // b64: false would sign the payload unencoded: JWTs must not.
    expect(await refusal(hs, hmacToken({ alg: "HS256", crit: ["b64"], b64: false }, claims))).toBe("malformed");
  });
});

describe("RS256, ES256 and EdDSA with CHAT_AUTH_PUBLIC_KEY", () => {
  const pairs = {} as Record<Asymmetric, KeyPair>;
  const others = {} as Record<Asymmetric, KeyPair>;
  const verifiers = {} as Record<Asymmetric, TokenVerifier>;
  beforeAll(async () => {
    for (const alg of ["RS256", "ES256", "EdDSA"] as const) {
      pairs[alg] = await keyPair(alg, folder.dir);
      others[alg] = await keyPair(alg, folder.dir);
      verifiers[alg] = await verifier({ authPublicKey: pairs[alg].path });
    }
  });

  for (const alg of ["RS256", "ES256", "EdDSA"] as const) {
    test(`${alg}: verified with the right key, refused with the wrong one`, async () => {
      expect(await verifiers[alg].verify(await sign(pairs[alg].privateKey, { sub: alg }, { alg }))).toEqual({ userId: alg });
      expect(await refusal(verifiers[alg], await sign(others[alg].privateKey, {}, { alg }))).toBe("signature");
    });
  }

  test("an Ed25519 key also takes the fully-specified alg name Ed25519 (RFC 9864)", async () => {
    expect(await verifiers.EdDSA.verify(await sign(pairs.EdDSA.privateKey, {}, { alg: "Ed25519" }))).toEqual({ userId: "user-1" });
  });

  test("only the key's algorithm: another asymmetric algorithm is refused", async () => {
    expect(await refusal(verifiers.RS256, await sign(pairs.ES256.privateKey, {}, { alg: "ES256" }))).toBe("algorithm");
    expect(await refusal(verifiers.ES256, await sign(pairs.EdDSA.privateKey, {}, { alg: "EdDSA" }))).toBe("algorithm");
  });

  test("key confusion: an HS256 token signed with the server's public key PEM as the secret is refused", async () => {
    for (const alg of ["RS256", "ES256", "EdDSA"] as const) {
      expect(await refusal(verifiers[alg], await sign(pairs[alg].pem, {}, { alg: "HS256" }))).toBe("algorithm");
    }
  });

  test("the key file is checked at start-up: unreadable, not a key, a private key, a key of another kind are ConfigErrors", async () => {
    const problem = async (path: string) => {
      try {
        await createTokenVerifier({ authPublicKey: path } as TokenSettings);
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        return (error as Error).message;
      }
      throw new Error(`${path} was accepted`);
    };
    const at = (name: string, text: string) => {
      const path = join(folder.dir, name);
      writeFileSync(path, text);
      return path;
    };
    expect(await problem(join(folder.dir, "missing.pem"))).toContain("cannot read");
    expect(await problem(folder.dir)).toContain("CHAT_AUTH_PUBLIC_KEY");
    expect(await problem(at("junk.pem", "-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n"))).toContain("not a PEM public key");
    expect(await problem(at("empty.pem", ""))).toContain("not a PEM public key");
    const { generateKeyPairSync } = await import("node:crypto");
    const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
    expect(await problem(at("private.pem", rsa.privateKey.export({ type: "pkcs8", format: "pem" }) as string))).toContain("private key");
    const p384 = generateKeyPairSync("ec", { namedCurve: "secp384r1" }).publicKey.export({ type: "spki", format: "pem" }) as string;
    expect(await problem(at("p384.pem", p384))).toContain("P-256");
    const small = generateKeyPairSync("rsa", { modulusLength: 1024 }).publicKey.export({ type: "spki", format: "pem" }) as string;
    expect(await problem(at("rsa1024.pem", small))).toContain("2048");
    // A PKCS#1 RSA public key is the same key: it is accepted.
    const pkcs1 = await verifier({ authPublicKey: at("pkcs1.pem", rsa.publicKey.export({ type: "pkcs1", format: "pem" }) as string) });
    expect(await pkcs1.verify(await sign(rsa.privateKey as never, {}, { alg: "RS256" }))).toEqual({ userId: "user-1" });
  });
});

// Verifies a join's JWT with the key the server holds (PROTOCOL.md, "Identity and access"): the
// adapter between jose and the room logic, which sees only the TokenVerifier port. Whatever goes
// wrong, verify() rejects with a TokenRefused: a join turns it into `unauthorized` (4401).
import {
  createRemoteJWKSet,
  errors,
  jwtVerify,
  type CryptoKey,
  type JWTPayload,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
} from "jose";
import type { Config } from "../config";
import { normalizeName } from "../protocol/limits";
import { isRoomPattern, isUserId, TOKEN_MAX, TokenRefused } from "../rooms/identity";
import { RateLimiter } from "../rooms/rate-limit";
import type { Identity, TokenRefusal, TokenVerifier } from "../rooms/ports";
import { loadPublicKey } from "./keys";

export type TokenSettings = Pick<Config, "authSecret" | "authPublicKey" | "authJwksUrl" | "authIssuer" | "authAudience">;

export interface VerifierOptions {
  /**
   * JWKS only: a token whose `kid` the cached set lacks refetches the set at once, up to this
   * many times in a row (3 by default)...
   */
  jwksRefreshBurst?: number;
  /**
   * ...then once per this many ms (10 s by default): an issuer's key rotated in is found on its
   * first token, while tokens with made-up kids cannot make the server hammer the key server.
   */
  jwksRefreshEveryMs?: number;
  /** JWKS only: a fetch slower than this fails (jose's default: 5 s). */
  jwksTimeoutMs?: number;
  /** The clock of the refresh bucket, in ms (tests). */
  now?: () => number;
}

// The fully-specified name of EdDSA over Ed25519 (RFC 9864): newer libraries sign with it.
const ED25519 = ["EdDSA", "Ed25519"];
const JWKS_ALGORITHMS = ["RS256", "ES256", ...ED25519];

/** The verifier for the configured key, or undefined when none is (the server is open). Key problems are ConfigErrors. */
export async function createTokenVerifier(settings: TokenSettings, options: VerifierOptions = {}): Promise<TokenVerifier | undefined> {
  let key: CryptoKey | Uint8Array | JWTVerifyGetKey;
  let algorithms: string[];
  if (settings.authSecret !== undefined) {
    key = new TextEncoder().encode(settings.authSecret);
    algorithms = ["HS256"];
  } else if (settings.authPublicKey !== undefined) {
    const loaded = await loadPublicKey(settings.authPublicKey);
    key = loaded.key;
    algorithms = loaded.algorithm === "EdDSA" ? ED25519 : [loaded.algorithm];
  } else if (settings.authJwksUrl !== undefined) {
    key = jwksKey(new URL(settings.authJwksUrl), options);
    algorithms = JWKS_ALGORITHMS;
  } else return undefined;

  const verifyOptions: JWTVerifyOptions = {
    algorithms,
    issuer: settings.authIssuer,
    audience: settings.authAudience,
    requiredClaims: ["sub", "exp"],
  };
  return {
    async verify(token) {
      if (typeof token !== "string") throw new TokenRefused("malformed");
      if (token.length > TOKEN_MAX) throw new TokenRefused("too_long");
      if (!isCanonicalCompactJws(token)) throw new TokenRefused("malformed");
      let payload: JWTPayload;
      try {
        payload = await verifyWith(token, key, verifyOptions);
      } catch (error) {
        throw error instanceof TokenRefused ? error : new TokenRefused(refusalOf(error));
      }
      return identityOf(payload);
    },
  };
}

/**
 * The key of a token's `kid` from the remote set. jose's own refetch on an unknown kid waits out
 * a cooldown counted from the last fetch, so a key rotated in just after the first join would be
 * refused for 30 s; instead jose never refetches on its own here (an endless cooldown) and a
 * token bucket decides. jose still refetches a set older than 10 minutes, and shares one fetch
 * between concurrent callers.
 */
function jwksKey(url: URL, options: VerifierOptions): JWTVerifyGetKey {
  const set = createRemoteJWKSet(url, { cooldownDuration: Number.POSITIVE_INFINITY, timeoutDuration: options.jwksTimeoutMs });
  const refreshes = new RateLimiter(1000 / (options.jwksRefreshEveryMs ?? 10_000), options.jwksRefreshBurst ?? 3);
  const now = options.now ?? Date.now;
  return async (header, token) => {
    try {
      try {
        return await set(header, token);
      } catch (error) {
        if (!(error instanceof errors.JWKSNoMatchingKey)) throw error;
        // A refetch already under way serves this token too, without spending a refresh.
        if (!set.reloading && refreshes.take("jwks", now()) > 0) throw error;
        await set.reload();
        return await set(header, token);
      }
    } catch (error) {
      // A key set that cannot be fetched or read is the server's problem, not a bad token: it
      // gets its own reason so that logs and metrics tell an outage from an attack.
      if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) throw error;
      throw new TokenRefused("key_unavailable", { cause: error });
    }
  };
}

async function verifyWith(token: string, key: CryptoKey | Uint8Array | JWTVerifyGetKey, options: JWTVerifyOptions): Promise<JWTPayload> {
  try {
    return (await jwtVerify(token, key as CryptoKey, options)).payload;
  } catch (error) {
    // A kid-less token against a set holding several keys of its type: jose leaves trying each to us.
    if (!(error instanceof errors.JWKSMultipleMatchingKeys)) throw error;
    let last: unknown = error;
    for await (const candidate of error) {
      try {
        return (await jwtVerify(token, candidate, options)).payload;
      } catch (next) {
        last = next;
        if (!(next instanceof errors.JWSSignatureVerificationFailed)) break;
      }
    }
    throw last;
  }
}

function refusalOf(error: unknown): TokenRefusal {
  if (error instanceof errors.JWTExpired) return "expired";
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.reason === "check_failed" && error.claim === "nbf") return "not_yet_valid";
    if (error.reason === "check_failed" && error.claim === "iss") return "issuer";
    if (error.reason === "check_failed" && error.claim === "aud") return "audience";
    return "claims";
  }
  if (error instanceof errors.JOSEAlgNotAllowed) return "algorithm";
  if (error instanceof errors.JWSSignatureVerificationFailed) return "signature";
  if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) return "unknown_key";
  // JWSInvalid, JWTInvalid, JOSENotSupported (an unknown `crit`), and whatever else a mangled
  // token may raise inside jose: the token could not be read.
  return "malformed";
}

/** The claims beyond jose's checks: `sub`, `name` and `rooms` as the contract shapes them. */
function identityOf(payload: JWTPayload): Identity {
  if (!isUserId(payload.sub)) throw new TokenRefused("claims");
  // JSON reads 1e999 as Infinity, which jose takes for a number: a token that never expires.
  if (!Number.isFinite(payload.exp)) throw new TokenRefused("claims");
  const identity: Identity = { userId: payload.sub };
  if (payload.name !== undefined) {
    const name = typeof payload.name === "string" ? normalizeName(payload.name) : undefined;
    if (name === undefined) throw new TokenRefused("claims");
    identity.name = name;
  }
  if (payload.rooms !== undefined) {
    if (!Array.isArray(payload.rooms) || !payload.rooms.every(isRoomPattern)) throw new TokenRefused("claims");
    identity.rooms = [...payload.rooms];
  }
  return identity;
}

const BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/**
 * Three segments of canonical base64url. Decoders ignore the spare low bits of a segment's last
 * character, so without this check one signed token has several spellings that all verify: a
 * token would not be a stable key (for a deny list, a cache) and a mutated one would pass.
 */
export function isCanonicalCompactJws(token: string): boolean {
  const parts = token.split(".");
  return parts.length === 3 && parts.every(isCanonicalBase64url);
}

function isCanonicalBase64url(segment: string): boolean {
  if (segment.length === 0 || segment.length % 4 === 1 || !/^[A-Za-z0-9_-]+$/.test(segment)) return false;
  const spareBits = segment.length % 4 === 2 ? 4 : segment.length % 4 === 3 ? 2 : 0;
  const last = BASE64URL.indexOf(segment[segment.length - 1]!);
  return (last & ((1 << spareBits) - 1)) === 0;
}

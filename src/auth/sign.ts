// Tokens the server signs itself, for POST /api/tokens: an app's backend that holds an API key
// gets a token for its user without signing one. HS256 with CHAT_AUTH_SECRET, the same checks
// as verification, so every token issued here is one the server accepts.
import { SignJWT } from "jose";
import { normalizeName } from "../protocol/limits";
import { isRoomPattern, isUserId, TOKEN_MAX } from "../rooms/identity";

export const TOKEN_TTL_DEFAULT_SECONDS = 3600;
/** A leaked token is good until it expires, and a token cannot be revoked (a ban can): a day at most. */
export const TOKEN_TTL_MAX_SECONDS = 86_400;

export interface TokenRequest {
  sub: string;
  name?: string;
  rooms?: string[];
  /** 1 to TOKEN_TTL_MAX_SECONDS; TOKEN_TTL_DEFAULT_SECONDS when absent. */
  ttlSeconds?: number;
}

export interface IssuedToken {
  token: string;
  /** When the token expires: its `exp`, in ms since the epoch. */
  expiresAt: number;
}

export interface SignOptions {
  /** The server's CHAT_AUTH_ISSUER / CHAT_AUTH_AUDIENCE: its own tokens must pass its own checks. */
  issuer?: string;
  audience?: string;
  /** The clock, in ms (tests). */
  now?: number;
}

/** A request that cannot become a token; `field` names the part at fault (for a 400). */
export class InvalidTokenRequest extends Error {
  override readonly name = "InvalidTokenRequest";
  constructor(
    readonly field: "sub" | "name" | "rooms" | "ttlSeconds",
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

export async function signToken(request: TokenRequest, secret: string, options: SignOptions = {}): Promise<IssuedToken> {
  if (!isUserId(request.sub)) throw new InvalidTokenRequest("sub", "1 to 128 characters, no control characters");
  const claims: Record<string, unknown> = {};
  if (request.name !== undefined) {
    const name = typeof request.name === "string" ? normalizeName(request.name) : undefined;
    if (name === undefined) throw new InvalidTokenRequest("name", "1 to 32 characters under the contract's name rules");
    claims.name = name;
  }
  if (request.rooms !== undefined) {
    if (!Array.isArray(request.rooms) || !request.rooms.every(isRoomPattern)) {
      throw new InvalidTokenRequest("rooms", "an array of room names or prefixes ending in *");
    }
    claims.rooms = [...request.rooms];
  }
  const ttl = request.ttlSeconds ?? TOKEN_TTL_DEFAULT_SECONDS;
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > TOKEN_TTL_MAX_SECONDS) {
    throw new InvalidTokenRequest("ttlSeconds", `a whole number of seconds from 1 to ${TOKEN_TTL_MAX_SECONDS}`);
  }
  const issuedAt = Math.floor((options.now ?? Date.now()) / 1000);
  const expires = issuedAt + ttl;
  const jwt = new SignJWT(claims).setProtectedHeader({ alg: "HS256", typ: "JWT" }).setSubject(request.sub).setIssuedAt(issuedAt).setExpirationTime(expires);
  if (options.issuer !== undefined) jwt.setIssuer(options.issuer);
  if (options.audience !== undefined) jwt.setAudience(options.audience);
  const token = await jwt.sign(new TextEncoder().encode(secret));
  // Joins refuse longer tokens unread: issuing one would hand out a token that never works.
  if (token.length > TOKEN_MAX) throw new InvalidTokenRequest("rooms", `too many rooms: the token would be over ${TOKEN_MAX} characters`);
  return { token, expiresAt: expires * 1000 };
}

// CHAT_API_KEY: who may call the server API. A presented key is compared with each configured
// one in constant time: both sides are SHA-256 digests, equal in length whatever was sent, so
// neither the comparison's time nor an early length mismatch tells an attacker how close it was.
import { createHash, timingSafeEqual } from "node:crypto";

const digest = (key: string) => createHash("sha256").update(key, "utf8").digest();

// RFC 7235: the scheme is case-insensitive, followed by one or more spaces.
const BEARER = /^bearer +(.+)$/i;

/**
 * The check for the configured keys (several allow rotation). It reads an `Authorization`
 * header's value only: a key in a query string lands in access logs and browser history, so
 * the server API never looks there.
 */
export function createApiKeyCheck(keys: readonly string[]): (authorization: string | null | undefined) => boolean {
  const digests = keys.filter((key) => key.length > 0).map(digest);
  return (authorization) => {
    const presented = authorization ? BEARER.exec(authorization.trim())?.[1] : undefined;
    if (presented === undefined) return false;
    const candidate = digest(presented);
    let match = false;
    // Every key is compared, a match or not: which key matched does not show in the time taken.
    for (const known of digests) match = timingSafeEqual(known, candidate) || match;
    return match;
  };
}

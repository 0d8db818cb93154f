// Who may join which room, from a verified identity: the contract's rules (PROTOCOL.md, "Identity
// and access") as pure functions, shared by the token verifier, the token issuer, joins and REST.
import { isRoomName, isWellFormed } from "../protocol/limits";
import type { Identity, TokenRefusal } from "./ports";

/** A token's `sub`: 1 to 128 characters (code points). */
export const USER_ID_MAX = 128;
/** A join's token, in characters: longer ones are refused before any parsing. */
export const TOKEN_MAX = 4096;

// Ids go into frames, the store and logs: a control character would forge log lines, and a lone
// surrogate would be stored as U+FFFD (a different id than the one verified).
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

export function isUserId(value: unknown): value is string {
  if (typeof value !== "string" || !isWellFormed(value) || CONTROL.test(value)) return false;
  const length = [...value].length;
  return length >= 1 && length <= USER_ID_MAX;
}

// A trailing `*` makes a prefix: room names cannot hold one, so "team-*" is never a room's name.
const ROOM_PREFIX = /^[A-Za-z0-9_.-]{0,63}\*$/;

/** One entry of a `rooms` claim: a room's name, or a prefix ending in `*` ("team-*", "*"). */
export const isRoomPattern = (value: unknown): value is string => typeof value === "string" && (isRoomName(value) || ROOM_PREFIX.test(value));

/** Why a token was refused: the verifier rejects with this and nothing else. */
export class TokenRefused extends Error {
  override readonly name = "TokenRefused";
  constructor(
    readonly reason: TokenRefusal,
    options?: { cause?: unknown },
  ) {
    // The message is the reason only: never the token, nor a claim's value.
    super(`token refused: ${reason}`, options);
  }
}

/** The token's `rooms` claim covers the room (exactly or by a prefix); without the claim, every public room does. */
export function roomAllowed(identity: Identity, room: string, isPrivate = false): boolean {
  if (identity.rooms === undefined) return !isPrivate;
  return identity.rooms.some((pattern) => (pattern.endsWith("*") ? room.startsWith(pattern.slice(0, -1)) : room === pattern));
}

/** A join's (or a private history read's) outcome before bans: the contract's refusal table. */
export type Admission = "allowed" | "unauthorized" | "forbidden";

export interface RoomPolicy {
  /** Set through the server API; a room never configured is public. */
  private: boolean;
  /** CHAT_ANONYMOUS: joins without a token may enter public rooms. */
  anonymous: boolean;
}

/**
 * Without an identity (no token): public rooms only, and only while anonymous joins are on
 * (else `unauthorized`: a token is needed). With one: `forbidden` when its `rooms` miss the room.
 * A token that failed to verify is `unauthorized` before this is asked.
 */
export function admit(identity: Identity | undefined, room: string, policy: RoomPolicy): Admission {
  if (identity === undefined) return policy.anonymous && !policy.private ? "allowed" : "unauthorized";
  return roomAllowed(identity, room, policy.private) ? "allowed" : "forbidden";
}

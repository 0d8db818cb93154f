// The contract's limits, names and codes: plain values, no zod, so that what imports only these
// (the web page, the client, most of the server) does not load or build any schema.
import { NAME_MAX } from "./text";

export { isMessageText, isWellFormed, normalizeName } from "./text";

export const LIMITS = {
  roomName: 64,
  name: NAME_MAX,
  message: 2000,
  clientId: 64,
  /** Default and maximum page sizes of GET /rooms/:room/messages. */
  pageDefault: 50,
  pageMax: 200,
  /** `joined`/`left` carry the whole `online` list only while the room has at most this many names. */
  onlineListed: 50,
  /** Default and maximum page sizes of GET /rooms. */
  roomsPageDefault: 100,
  roomsPageMax: 1000,
  /** Bytes of messages (as serialized) in one history frame: the oldest are left out (REST has them). */
  historyBytes: 256 * 1024,
} as const;

export const ROOM_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
export const isRoomName = (room: string) => ROOM_NAME.test(room);
/** A GET /rooms cursor (`next`, passed back as `after`): opaque to clients. */
export const ROOM_CURSOR = /^(?:~[A-Za-z0-9_.-]{1,64}|[1-9][0-9]{0,15})$/;

export const ERROR_CODES = [
  "bad_json", // the frame is not a JSON object
  "bad_frame", // JSON, but not a valid frame of the contract
  "not_joined", // a frame other than join before a join
  "already_joined", // a second join on the same socket
  "too_long", // message over LIMITS.message characters
  "rate_limited", // over the rate limit; retryAfter says when to try again
  "unavailable", // storage failed: nothing was stored or broadcast; try again
  "unauthorized", // a join's token failed, was sent to a server without a key, or was needed and missing (close 4401)
  "forbidden", // a join the token does not cover, or of a user banned from the room (close 4403)
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/** WebSocket close codes the server uses, beyond the RFC's own. */
export const CLOSE = {
  goingAway: 1001, // server shutting down
  policy: 1008, // abuse went on (flood, never joined, origin)
  tooBig: 1009, // frame over the size limit (Bun's ws layer)
  tryAgainLater: 1013, // slow consumer: the outgoing buffer passed its limit
  // RFC 6455's application range, after HTTP's 401 and 403: a client knows not to retry the same join blindly.
  unauthorized: 4401,
  forbidden: 4403,
} as const;

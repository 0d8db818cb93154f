// The contract's limits, names and codes: plain values, no zod, so that what imports only these
// (the web page, the client, most of the server) does not load or build any schema.

export const LIMITS = {
  roomName: 64,
  name: 32,
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
} as const;

export const ROOM_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
export const isRoomName = (room: string) => ROOM_NAME.test(room);
/** A GET /rooms cursor (`next`, passed back as `after`): opaque to clients. */
export const ROOM_CURSOR = /^(?:~[A-Za-z0-9_.-]{1,64}|[1-9][0-9]{0,15})$/;

// C0/C1 controls, zero-width characters and bidirectional overrides/isolates: invisible or
// text-reordering characters let one name impersonate another.
const FORBIDDEN_IN_NAME = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/;

/** The name as the room will show it (trimmed, NFC), or undefined when it breaks the rules. */
export function normalizeName(raw: string): string | undefined {
  const name = raw.normalize("NFC").trim();
  // Characters are code points, as zod counts them for messages: an emoji is one.
  const length = [...name].length;
  if (length < 1 || length > LIMITS.name || FORBIDDEN_IN_NAME.test(name)) return undefined;
  return name;
}

export const ERROR_CODES = [
  "bad_json", // the frame is not a JSON object
  "bad_frame", // JSON, but not a valid frame of the contract
  "not_joined", // a frame other than join before a join
  "already_joined", // a second join on the same socket
  "too_long", // message over LIMITS.message characters
  "rate_limited", // over the rate limit; retryAfter says when to try again
  "unavailable", // storage failed: nothing was stored or broadcast; try again
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/** WebSocket close codes the server uses, beyond the RFC's own. */
export const CLOSE = {
  goingAway: 1001, // server shutting down
  policy: 1008, // abuse went on (flood, never joined, origin)
  tooBig: 1009, // frame over the size limit (Bun's ws layer)
  tryAgainLater: 1013, // slow consumer: the outgoing buffer passed its limit
} as const;

// The wire contract (../../../shared/PROTOCOL.md) as zod schemas: the one source of truth for
// frames, shared by the server, the typed client and the web page. Elysia validates ws bodies
// through Standard Schema and ignores transforms, so every schema here is plain: checks only.
import { z } from "./zod";

export const LIMITS = {
  roomName: 64,
  name: 32,
  message: 2000,
  clientId: 64,
  /** Default and maximum page sizes of GET /rooms/:room/messages. */
  pageDefault: 50,
  pageMax: 200,
} as const;

export const ROOM_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
export const isRoomName = (room: string) => ROOM_NAME.test(room);

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

const RoomName = z.string().check(z.regex(ROOM_NAME));
const Id = z.int().check(z.nonnegative());
const Timestamp = z.number();

export const Message = z.object({
  id: Id,
  room: RoomName,
  name: z.string(),
  message: z.string(),
  timestamp: Timestamp,
});
export type Message = z.infer<typeof Message>;

// ---- client -> server ----

export const JoinFrame = z.object({
  type: z.literal("join"),
  name: z.string().check(z.refine((n) => normalizeName(n) !== undefined, "1-32 characters, no control characters")),
  // null is read as absent for every optional field: `since: lastId ?? null` is a natural thing to send.
  timestamp: z.nullish(Timestamp),
  since: z.nullish(Id),
});
export const SendFrame = z.object({
  type: z.literal("message"),
  message: z.string().check(z.minLength(1), z.maxLength(LIMITS.message)),
  timestamp: z.nullish(Timestamp),
  clientId: z.nullish(z.string().check(z.minLength(1), z.maxLength(LIMITS.clientId))),
});
export const ClientFrame = z.discriminatedUnion("type", [JoinFrame, SendFrame]);
export type JoinFrame = z.infer<typeof JoinFrame>;
export type SendFrame = z.infer<typeof SendFrame>;
export type ClientFrame = z.infer<typeof ClientFrame>;

// ---- server -> client ----

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

export const HistoryFrame = z.object({ type: z.literal("history"), messages: z.array(Message) });
export const JoinedFrame = z.object({
  type: z.literal("joined"),
  name: z.string(),
  timestamp: Timestamp,
  online: z.array(z.string()),
});
export const LeftFrame = z.object({
  type: z.literal("left"),
  name: z.string(),
  timestamp: Timestamp,
  online: z.array(z.string()),
});
export const MessageFrame = z.extend(Message, { type: z.literal("message"), clientId: z.optional(z.string()) });
export const ErrorFrame = z.object({
  type: z.literal("error"),
  code: z.string(),
  message: z.string(),
  retryAfter: z.optional(z.number()),
  /** The clientId of the refused message frame, so a client can settle its pending send. */
  clientId: z.optional(z.string()),
});
export const ServerFrame = z.discriminatedUnion("type", [HistoryFrame, JoinedFrame, LeftFrame, MessageFrame, ErrorFrame]);
export type HistoryFrame = z.infer<typeof HistoryFrame>;
export type JoinedFrame = z.infer<typeof JoinedFrame>;
export type LeftFrame = z.infer<typeof LeftFrame>;
export type MessageFrame = z.infer<typeof MessageFrame>;
export type ErrorFrame = z.infer<typeof ErrorFrame>;
export type ServerFrame = z.infer<typeof ServerFrame>;

// ---- REST ----

export const MessagesQuery = z.object({
  before: z.optional(z.coerce.number().check(z.int(), z.positive())).check(z.describe("only messages with id < before: the latest `limit` of them")),
  after: z.optional(z.coerce.number().check(z.int(), z.nonnegative())).check(z.describe("only messages with id > after: the first `limit` of them (pages forward, e.g. after a resume)")),
  limit: z.optional(z.coerce.number().check(z.int(), z.minimum(1))).check(z.describe(`page size: default ${LIMITS.pageDefault}, at most ${LIMITS.pageMax} (larger is capped)`)),
});
export const MessagesPage = z.object({ messages: z.array(Message) });
export const RoomSummary = z.object({ room: z.string(), online: z.int(), lastMessageAt: z.nullable(z.number()) });
export const RoomList = z.object({ rooms: z.array(RoomSummary) });
export type RoomSummary = z.infer<typeof RoomSummary>;

/** WebSocket close codes the server uses, beyond the RFC's own. */
export const CLOSE = {
  goingAway: 1001, // server shutting down
  policy: 1008, // abuse went on (flood, never joined, origin)
  tooBig: 1009, // frame over the size limit (Bun's ws layer)
  tryAgainLater: 1013, // slow consumer: the outgoing buffer passed its limit
} as const;

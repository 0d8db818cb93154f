// The wire contract (../../../shared/PROTOCOL.md) as zod schemas: the one source of truth for
// frames, shared by the server, the typed client and the web page. This module is the whole
// contract (limits.ts and rest.ts are re-exported); the server loads it on the first frame. Elysia validates ws bodies
// through Standard Schema and ignores transforms, so every schema here is plain: checks only.
import { isMessageText, isWellFormed, LIMITS, normalizeName } from "./limits";
import { Id, Message, Timestamp } from "./rest";
import { z } from "./zod";

export * from "./limits";
export * from "./rest";

// ---- client -> server ----

export const JoinFrame = z.object({
  type: z.literal("join"),
  // The text rules (see text.ts) are refinements: plain checks, as Elysia wants ws bodies.
  name: z.string().check(z.refine((n) => normalizeName(n) !== undefined, "1-32 characters, no control, invisible or look-alike characters")),
  // null is read as absent for every optional field: `since: lastId ?? null` is a natural thing to send.
  timestamp: z.nullish(Timestamp),
  since: z.nullish(Id),
  /**
   * A JWT signed by the app's backend (PROTOCOL.md, "Identity and access"), at most 4096
   * characters. No length check here: a longer one is `unauthorized` (4401), not `bad_frame`.
   */
  token: z.nullish(z.string()),
});
export const SendFrame = z.object({
  type: z.literal("message"),
  message: z.string().check(z.minLength(1), z.maxLength(LIMITS.message), z.refine(isMessageText, "well-formed text, no control characters but tab and line feed")),
  timestamp: z.nullish(Timestamp),
  clientId: z.nullish(z.string().check(z.minLength(1), z.maxLength(LIMITS.clientId), z.refine(isWellFormed, "well-formed text"))),
});
export const ClientFrame = z.discriminatedUnion("type", [JoinFrame, SendFrame]);
export type JoinFrame = z.infer<typeof JoinFrame>;
export type SendFrame = z.infer<typeof SendFrame>;
export type ClientFrame = z.infer<typeof ClientFrame>;

// ---- server -> client ----

// Presence costs a member one small frame per join or leave, not the whole roster: the roster
// comes once, in the joiner's history, and `joined`/`left` list it only while the room is small.
const Online = z.array(z.string());
const Count = z.number().check(z.int(), z.minimum(0));
/** The member's id in the app: present when its join was verified. */
const UserId = z.optional(z.string());
export const Member = z.object({ name: z.string(), userId: UserId });
export type Member = z.infer<typeof Member>;
export const HistoryFrame = z.object({
  type: z.literal("history"),
  messages: z.array(Message),
  /** Every name in the room, the joiner's included, each once. */
  online: Online,
  /** Everyone in the room with the joiner, each identity once: a verified user by id, an anonymous one by name. */
  members: z.optional(z.array(Member)),
});
export const JoinedFrame = z.object({
  type: z.literal("joined"),
  name: z.string(),
  userId: UserId,
  timestamp: Timestamp,
  /** Names in the room when the frame was sent. */
  count: Count,
  /** Those names, only while count <= LIMITS.onlineListed. */
  online: z.optional(Online),
});
export const LeftFrame = z.object({
  type: z.literal("left"),
  name: z.string(),
  userId: UserId,
  timestamp: Timestamp,
  count: Count,
  online: z.optional(Online),
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

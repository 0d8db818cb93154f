// The wire contract (../../../shared/PROTOCOL.md) as zod schemas: the one source of truth for
// frames, shared by the server, the typed client and the web page. This module is the whole
// contract (limits.ts and rest.ts are re-exported); the server loads it on the first frame. Elysia validates ws bodies
// through Standard Schema and ignores transforms, so every schema here is plain: checks only.
import { LIMITS, normalizeName } from "./limits";
import { Id, Message, Timestamp } from "./rest";
import { z } from "./zod";

export * from "./limits";
export * from "./rest";

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

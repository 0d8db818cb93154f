// A stored message and the REST bodies as zod schemas (part of the contract; frames.ts re-exports
// them). Apart from the frames: the server builds these at start-up for its routes, and the
// frames only when the first frame arrives.
import { LIMITS, ROOM_CURSOR, ROOM_NAME } from "./limits";
import { z } from "./zod";

const RoomName = z.string().check(z.regex(ROOM_NAME));
export const Id = z.int().check(z.nonnegative());
export const Timestamp = z.number();

export const Message = z.object({
  id: Id,
  room: RoomName,
  name: z.string(),
  message: z.string(),
  timestamp: Timestamp,
  userId: z.optional(z.string()).check(z.describe("the sender's id in the app: present when it was verified, or when the server API gave one")),
});
export type Message = z.infer<typeof Message>;

export const MessagesQuery = z.object({
  before: z.optional(z.coerce.number().check(z.int(), z.positive())).check(z.describe("only messages with id < before: the latest `limit` of them")),
  after: z.optional(z.coerce.number().check(z.int(), z.nonnegative())).check(z.describe("only messages with id > after: the first `limit` of them (pages forward, e.g. after a resume)")),
  limit: z.optional(z.coerce.number().check(z.int(), z.minimum(1))).check(z.describe(`page size: default ${LIMITS.pageDefault}, at most ${LIMITS.pageMax} (larger is capped)`)),
});
export const MessagesPage = z.object({ messages: z.array(Message) });
export const RoomSummary = z.object({ room: z.string(), online: z.int(), lastMessageAt: z.nullable(z.number()) });
export const RoomsQuery = z.object({
  after: z.optional(z.string().check(z.regex(ROOM_CURSOR))).check(z.describe("the `next` of the page before: the list goes on from there")),
  limit: z.optional(z.coerce.number().check(z.int(), z.minimum(1))).check(z.describe(`page size: default ${LIMITS.roomsPageDefault}, at most ${LIMITS.roomsPageMax} (larger is capped)`)),
});
export const RoomList = z.object({
  rooms: z.array(RoomSummary).check(z.describe("rooms with people online but no message yet, then rooms by their latest message, most recent first")),
  next: z.optional(z.string()).check(z.describe("present when more rooms follow: pass it as `after`")),
});
export type RoomSummary = z.infer<typeof RoomSummary>;

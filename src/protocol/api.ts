// The server API's bodies (PROTOCOL.md, "Server API") as zod schemas: their shapes only, for
// Elysia's parse, the OpenAPI page and Eden's types. The text rules (names, messages, user ids)
// are checked by the route itself, so that a refusal can say which rule a field broke.
import { Message } from "./rest";
import { z } from "./zod";

const described = <T extends z.ZodMiniType>(schema: T, text: string) => schema.check(z.describe(text));

export const PostMessageBody = z.object({
  name: described(z.string(), "the sender's name, under the same rules as a join's"),
  message: described(z.string(), "1-2000 characters, under the same rules as a message frame's"),
  userId: z.optional(described(z.string(), "the sender's id in the app: carried by the message as a verified one's")),
  clientId: z.optional(described(z.string(), "1-64 characters: a retry with the same clientId and name is stored once")),
});
export const PostedMessage = z.object({ message: Message });

export const RoomSettingsBody = z.object({
  private: z.optional(described(z.boolean(), "only members whose token covers the room may join or read it")),
  title: z.optional(z.nullable(described(z.string(), "1-200 characters; null removes it"))),
});
export const RoomSettingsAnswer = z.object({ room: z.string(), private: z.boolean(), title: z.optional(z.string()) });

export const MemberList = z.object({
  members: z.array(z.object({ name: z.string(), userId: z.optional(z.string()), connections: z.int() })),
});

export const KickBody = z.object({
  userId: z.optional(described(z.string(), "every socket of this verified user in the room")),
  name: z.optional(described(z.string(), "every socket joined under this name in the room")),
});
export const KickAnswer = z.object({ closed: described(z.int(), "sockets closed on the node that took the call; the other nodes close theirs too") });

export const BanBody = z.optional(
  z.object({
    reason: z.optional(described(z.string(), "up to 500 characters, for the moderators")),
    until: z.optional(described(z.number(), "when the ban ends, ms since the epoch; without it the ban lasts until lifted")),
  }),
);
export const BanList = z.object({
  bans: z.array(z.object({ userId: z.string(), reason: z.optional(z.string()), until: z.optional(z.number()), createdAt: z.number() })),
});

export const TokenBody = z.object({
  sub: described(z.string(), "the user's id in the app (1-128 characters)"),
  name: z.optional(described(z.string(), "the display name the token gives")),
  rooms: z.optional(described(z.array(z.string()), "the rooms it may join: names, or prefixes ending in *")),
  ttlSeconds: z.optional(described(z.number(), "1 to 86400 (default 3600)")),
});
export const IssuedTokenAnswer = z.object({ token: z.string(), expiresAt: z.number() });

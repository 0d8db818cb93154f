// Moderation from the server API, as the room logic applies it on every node: which of a room's
// sockets an action closes, and with what. The node that took the call applies it and relays it
// (as JSON, on the cluster's control channel) to the others, which apply it to their own sockets.
import type { Identity } from "./ports";
import { admit, isUserId, type RoomPolicy } from "./identity";
import { isRoomName } from "../protocol/limits";

export type Moderation =
  /** Close the user's (or the name's) sockets in the room: 4403 `kicked`. */
  | { kind: "kick"; room: string; userId: string }
  | { kind: "kick"; room: string; name: string }
  /** The user was banned: its sockets closed 4403 `banned`, and its cached ban answer forgotten. */
  | { kind: "ban"; room: string; userId: string }
  /** The ban was lifted: its cached answer forgotten, so the next join is let in at once. */
  | { kind: "unban"; room: string; userId: string }
  /** The room's settings changed: members the new settings leave out are closed 4403. */
  | { kind: "settings"; room: string };

/** The close reasons a moderation action gives (PROTOCOL.md: `kicked`, `banned`). */
export const MODERATION_REASON = { kick: "kicked", ban: "banned", settings: "not_allowed" } as const;

export interface Member {
  name?: string;
  identity?: Identity;
}

/** Whether the action closes this member's socket; `policy` is the room's after a settings change. */
export function closes(action: Moderation, member: Member, policy?: RoomPolicy): boolean {
  switch (action.kind) {
    case "kick":
      // By name: every socket shown under it, verified or not (the name is what the room saw).
      return "userId" in action ? member.identity?.userId === action.userId : member.name === action.name;
    case "ban":
      return member.identity?.userId === action.userId;
    case "settings":
      return policy !== undefined && admit(member.identity, action.room, policy) !== "allowed";
    case "unban":
      return false;
  }
}

/** An action relayed by another node, read back; undefined for anything else (never trusted blindly). */
export function parseModeration(text: string): Moderation | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  const { kind, room, userId, name } = value as Record<string, unknown>;
  if (typeof room !== "string" || !isRoomName(room)) return undefined;
  switch (kind) {
    case "kick":
      if (isUserId(userId)) return { kind, room, userId };
      return typeof name === "string" ? { kind, room, name } : undefined;
    case "ban":
    case "unban":
      return isUserId(userId) ? { kind, room, userId } : undefined;
    case "settings":
      return { kind, room };
  }
  return undefined;
}

// A row of either store as the contract's Message: a userId only when the row has one (absent,
// never null, on the wire).
import type { Message } from "../protocol/frames";

export function storedMessage(id: number, room: string, name: string, message: string, timestamp: number, userId: string | null | undefined): Message {
  return userId == null ? { id, room, name, message, timestamp } : { id, room, name, message, timestamp, userId };
}

/** A row read with its user_id column (null when the sender had none). */
export interface MessageRow {
  id: number;
  room: string;
  name: string;
  message: string;
  timestamp: number;
  userId: string | null;
}

export const messageOfRow = (r: MessageRow): Message => storedMessage(r.id, r.room, r.name, r.message, r.timestamp, r.userId);

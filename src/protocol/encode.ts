// Server frames as the JSON text that goes on the wire, typed by the contract's frame types (a
// type-only import: no zod is loaded to encode). Every frame the server sends is written here,
// so its shape is checked by the compiler against the one schema clients parse it with.
import type { ErrorFrame, HistoryFrame, JoinedFrame, LeftFrame, Message, MessageFrame } from "./frames";
import type { ErrorCode } from "./limits";

type Fields<F> = Omit<F, "type">;

export function historyFrame(messages: HistoryFrame["messages"], online: HistoryFrame["online"], members: NonNullable<HistoryFrame["members"]>): string {
  const frame: HistoryFrame = { type: "history", messages, online, members };
  return JSON.stringify(frame);
}

/** `joined` or `left`; `online` is left out (not null) when the room is too big to list. */
export function presenceFrame(kind: "joined" | "left", { name, userId, timestamp, count, online }: Fields<JoinedFrame | LeftFrame>): string {
  // Absent fields stay absent: JSON.stringify leaves undefined out.
  const frame: JoinedFrame | LeftFrame = { type: kind, name, userId, timestamp, count, online };
  return JSON.stringify(frame);
}

/** A stored message as the room gets it: serialized once, then published to every member. */
export function messageFrame(message: Message): string {
  const frame: MessageFrame = { type: "message", ...message };
  return JSON.stringify(frame);
}

/**
 * The sender's own copy of a message frame: the room's text with its `clientId` spliced in before
 * the closing brace, so the message is not serialized twice.
 */
export function withClientId(messageText: string, clientId: string | undefined): string {
  return clientId === undefined ? messageText : `${messageText.slice(0, -1)},"clientId":${JSON.stringify(clientId)}}`;
}

export function errorFrame(code: ErrorCode, message: string, clientId?: string, retryAfter?: number): string {
  // Absent fields stay absent: JSON.stringify leaves undefined out.
  const frame: ErrorFrame = { type: "error", code, message, retryAfter, clientId };
  return JSON.stringify(frame);
}

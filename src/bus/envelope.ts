// What one node sends another for a room's frame: a one-line JSON header, a newline, then the
// frame exactly as this node's members got it. The frame is never parsed again on the way: a
// receiver reads the header only (JSON.stringify never writes a raw newline, so the first one
// ends the header), which holds what it needs to order the frame (see rooms/room-sequence.ts).
import type { FrameMeta } from "../rooms/ports";

export interface Envelope extends FrameMeta {
  /** The sending node (so a node drops its own echo). */
  node: string;
  room: string;
}

export function encodeEnvelope(envelope: Envelope, frame: string): string {
  const { node, room, id, prev, name, sockets, userId } = envelope;
  return `${JSON.stringify({ node, room, id, prev, name, sockets, userId })}\n${frame}`;
}

const optionalNumber = (value: unknown) => value === undefined || (typeof value === "number" && Number.isSafeInteger(value) && value >= 0);

/** The header and the frame, or undefined when the text is not an envelope (nothing of ours). */
export function decodeEnvelope(text: string): { envelope: Envelope; frame: string } | undefined {
  const end = text.indexOf("\n");
  if (end < 0) return undefined;
  let header: unknown;
  try {
    header = JSON.parse(text.slice(0, end));
  } catch {
    return undefined;
  }
  if (typeof header !== "object" || header === null) return undefined;
  const { node, room, id, prev, name, sockets, userId } = header as Record<string, unknown>;
  if (typeof node !== "string" || typeof room !== "string") return undefined;
  if (!optionalNumber(id) || !optionalNumber(prev) || !optionalNumber(sockets) || (name !== undefined && typeof name !== "string")) return undefined;
  // A message's place comes whole or not at all; so does a presence change.
  if ((id === undefined) !== (prev === undefined) || (name === undefined) !== (sockets === undefined)) return undefined;
  const envelope: Envelope = { node, room };
  if (id !== undefined) Object.assign(envelope, { id, prev });
  if (name !== undefined) Object.assign(envelope, { name, sockets });
  // Only with a presence change; a malformed one is dropped rather than the change.
  if (name !== undefined && typeof userId === "string") envelope.userId = userId;
  return { envelope, frame: text.slice(end + 1) };
}

// What one node sends another for a room's frame: a one-line JSON header, a newline, then the
// frame exactly as this node's members got it. The frame is never parsed again on the way: a
// receiver reads the header only (JSON.stringify never writes a raw newline, so the first one
// ends the header). Later fields (the room's previous message id, for gap repair) go in the header.

export interface Envelope {
  /** The sending node (so a node drops its own echo). */
  node: string;
  room: string;
}

export function encodeEnvelope(envelope: Envelope, frame: string): string {
  return `${JSON.stringify({ node: envelope.node, room: envelope.room })}\n${frame}`;
}

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
  const { node, room } = header as Record<string, unknown>;
  if (typeof node !== "string" || typeof room !== "string") return undefined;
  return { envelope: { node, room }, frame: text.slice(end + 1) };
}

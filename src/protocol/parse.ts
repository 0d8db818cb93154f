// Every client frame goes through here once: a look at its shape, JSON.parse, then the zod
// schema, then a refusal with the contract's error code if anything is off. Cheap on the error
// path too: no throw escapes, no stack captured beyond JSON.parse's own, and the inputs that make
// JSON.parse slow are refused before it (see shape.ts).
import type { ClientFrame, SendFrame } from "./frames";
import { isMessageText, isWellFormed, LIMITS, type ErrorCode } from "./limits";
import { shapeProblem } from "./shape";

export type Parsed = { ok: true; frame: ClientFrame } | { ok: false; code: ErrorCode; message: string; clientId?: string };

const NOT_AN_OBJECT: Parsed = { ok: false, code: "bad_json", message: "a frame is one JSON object" };
const BINARY: Parsed = { ok: false, code: "bad_frame", message: "frames are JSON text, not binary" };
const NOT_FLAT: Parsed = { ok: false, code: "bad_frame", message: "a frame is one flat JSON object with a few fields: see the protocol" };

// UTF-16 units past which a field cannot be valid: a character is at most two units, and a
// name's 32 may come decomposed (NFC composes them: up to 4 code points each) with some blanks
// around it (trimmed).
const MAX_UNITS = { message: 2 * LIMITS.message, clientId: 2 * LIMITS.clientId, name: 8 * LIMITS.name + 256 };

export function parseClientFrame(raw: string | Uint8Array): Parsed {
  if (typeof raw !== "string") return BINARY;
  const problem = shapeProblem(raw);
  if (problem) return problem === "not_object" ? NOT_AN_OBJECT : NOT_FLAT;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return NOT_AN_OBJECT;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return NOT_AN_OBJECT;
  const frame = value as Record<string, unknown>;
  // The frame of nearly every call, a plain message, is checked by hand below. zod's parse built
  // ~45 heap cells a frame (scopes and closures of its checks, arrays): a message as a whole went
  // from ~88 cells of garbage to ~47 (bun:jsc heapStats under rooms 2,000/s), and the collector
  // runs that much less often. What that check cannot vouch for goes on to zod, the source of
  // truth (test/protocol/parse.test.ts holds the two to the same verdicts).
  const sent = plainSendFrame(frame);
  if (sent) return { ok: true, frame: sent };
  // Error frames carry the refused frame's clientId, so a client can settle its pending send
  // (only one that could be valid: a refusal does not echo whatever it was sent).
  const clientId = typeof frame.clientId === "string" && frame.clientId.length <= LIMITS.clientId && isWellFormed(frame.clientId) ? frame.clientId : undefined;
  const tooLong = { ok: false, code: "too_long", message: `a message is at most ${LIMITS.message} characters`, clientId } as const;
  // A string far over its limit is refused before zod, which counts its code points one by one
  // (and normalizes a name): ~0.5 ms for a 64 KB message, ~2 ms for a 64 KB name.
  if (frame.type === "message" && typeof frame.message === "string" && frame.message.length > MAX_UNITS.message) return tooLong;
  for (const field of ["name", "clientId"] as const) {
    const text = frame[field];
    if (typeof text === "string" && text.length > MAX_UNITS[field]) return { ok: false, code: "bad_frame", message: `invalid frame (${field}): see the protocol`, clientId };
  }
  const result = clientFrameSchema().safeParse(value);
  if (result.success) return { ok: true, frame: result.data };
  const { issues } = result.error;
  if (issues.some((issue) => issue.code === "too_big" && issue.path[0] === "message")) return tooLong;
  const path = issues[0]?.path.join(".");
  return { ok: false, code: "bad_frame", message: `invalid frame${path ? ` (${path})` : ""}: see the protocol`, clientId };
}

/**
 * The message frame as frames.ts's SendFrame outputs it (its fields only, in its order), when the
 * schema's rules say yes without counting code points: a string within its limit in UTF-16 units
 * is within it in code points (a code point is one or two units). Undefined: not sure, ask zod.
 */
export function plainSendFrame(frame: Record<string, unknown>): SendFrame | undefined {
  const { type, message, timestamp, clientId } = frame;
  if (type !== "message" || typeof message !== "string" || message.length === 0 || message.length > LIMITS.message || !isMessageText(message)) return undefined;
  const sent: SendFrame = { type: "message", message };
  if (timestamp !== undefined) {
    if (timestamp !== null && !(typeof timestamp === "number" && Number.isFinite(timestamp))) return undefined;
    sent.timestamp = timestamp;
  }
  if (clientId !== undefined) {
    if (clientId !== null && (typeof clientId !== "string" || clientId.length === 0 || clientId.length > LIMITS.clientId || !isWellFormed(clientId))) return undefined;
    sent.clientId = clientId;
  }
  return sent;
}

// The frame schemas are built when the first frame arrives, not at start-up (~2 ms of it):
// frames.ts is required here, not imported.
let clientFrame: (typeof import("./frames"))["ClientFrame"] | undefined;
const clientFrameSchema = () => (clientFrame ??= (require("./frames") as typeof import("./frames")).ClientFrame);

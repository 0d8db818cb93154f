// Every client frame goes through here once: JSON.parse, then the zod schema, then a refusal
// with the contract's error code if anything is off. Cheap on the error path too (no throw
// escapes, no stack captured beyond JSON.parse's own).
import type { ClientFrame } from "./frames";
import { LIMITS, type ErrorCode } from "./limits";

export type Parsed = { ok: true; frame: ClientFrame } | { ok: false; code: ErrorCode; message: string; clientId?: string };

export function parseClientFrame(raw: string | Uint8Array): Parsed {
  if (typeof raw !== "string") return { ok: false, code: "bad_frame", message: "frames are JSON text, not binary" };
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return { ok: false, code: "bad_json", message: "a frame is one JSON object" };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { ok: false, code: "bad_json", message: "a frame is one JSON object" };
  }
  const result = clientFrameSchema().safeParse(value);
  if (result.success) return { ok: true, frame: result.data };
  const frame = value as Record<string, unknown>;
  // Error frames carry the refused frame's clientId, so a client can settle its pending send.
  const clientId = typeof frame.clientId === "string" ? frame.clientId : undefined;
  if (frame.type === "message" && typeof frame.message === "string" && frame.message.length > LIMITS.message) {
    return { ok: false, code: "too_long", message: `a message is at most ${LIMITS.message} characters`, clientId };
  }
  const path = result.error.issues[0]?.path.join(".");
  return { ok: false, code: "bad_frame", message: `invalid frame${path ? ` (${path})` : ""}: see the protocol`, clientId };
}

// The frame schemas are built when the first frame arrives, not at start-up (~2 ms of it):
// frames.ts is required here, not imported.
let clientFrame: (typeof import("./frames"))["ClientFrame"] | undefined;
const clientFrameSchema = () => (clientFrame ??= (require("./frames") as typeof import("./frames")).ClientFrame);

// parseClientFrame's check of a plain message frame by hand must never say yes where the
// contract's zod schema says no, nor output anything else than it does.
import { describe, expect, test } from "bun:test";
import { ClientFrame, LIMITS } from "../../src/protocol/frames";
import { parseClientFrame, plainSendFrame } from "../../src/protocol/parse";
import { generator, prng, SEED } from "../hardening/fuzz-frames";

const astral = "😀"; // one code point, two UTF-16 units
const cases: Record<string, unknown>[] = [
  { type: "message", message: "hi" },
  { type: "message", message: "hi", clientId: "c1", timestamp: 1767225600000 },
  { type: "message", message: "hi", clientId: null, timestamp: null },
  { type: "message", message: "hi", extra: 1, name: "x" }, // unknown keys: stripped
  { type: "message", message: "tab\tand\nline feed" },
  { type: "message", message: "x".repeat(LIMITS.message) },
  { type: "message", message: "x".repeat(LIMITS.message + 1) },
  { type: "message", message: astral.repeat(LIMITS.message / 2) },
  { type: "message", message: astral.repeat(LIMITS.message / 2 + 1) }, // within the limit in code points only
  { type: "message", message: astral.repeat(LIMITS.message + 1) },
  { type: "message", message: "" },
  { type: "message", message: "bell\u0007" },
  { type: "message", message: "c1 control\u0085" },
  { type: "message", message: "lone \ud800 surrogate" },
  { type: "message", message: 42 },
  { type: "message" },
  { type: "message", message: "hi", clientId: "" },
  { type: "message", message: "hi", clientId: "c".repeat(LIMITS.clientId) },
  { type: "message", message: "hi", clientId: "c".repeat(LIMITS.clientId + 1) },
  { type: "message", message: "hi", clientId: astral.repeat(LIMITS.clientId / 2 + 1) },
  { type: "message", message: "hi", clientId: "\udc00" },
  { type: "message", message: "hi", clientId: 7 },
  { type: "message", message: "hi", timestamp: Infinity },
  { type: "message", message: "hi", timestamp: NaN },
  { type: "message", message: "hi", timestamp: "1767225600000" },
  { type: "message", message: "hi", timestamp: -1.5 },
];

/** Every value the fuzz generator makes that parses to an object, plus the cases above. */
function corpus(): Record<string, unknown>[] {
  const next = generator(prng(SEED));
  const values: Record<string, unknown>[] = [...cases];
  for (let i = 0; i < 20_000; i++) {
    const raw = next();
    if (typeof raw !== "string") continue;
    try {
      const value = JSON.parse(raw);
      if (value && typeof value === "object" && !Array.isArray(value)) values.push(value);
    } catch {}
  }
  return values;
}

describe("a plain message frame, checked by hand", () => {
  test("is accepted only where the schema accepts it, and as the schema outputs it", () => {
    let accepted = 0;
    for (const value of corpus()) {
      const plain = plainSendFrame(value);
      if (!plain) continue;
      accepted++;
      expect({ value, parsed: ClientFrame.safeParse(value) }).toEqual({ value, parsed: { success: true, data: plain } as never });
    }
    expect(accepted).toBeGreaterThan(1000); // the fuzz's valid messages, not only the cases above
  });

  test("says yes to the everyday frames; what it cannot vouch for, zod decides", () => {
    for (const value of cases.slice(0, 6)) expect(plainSendFrame(value)).toBeDefined();
    // 1,001 astral characters: 2,002 units, within the limit of 2,000 characters.
    const long = { type: "message", message: astral.repeat(LIMITS.message / 2 + 1) };
    expect(plainSendFrame(long)).toBeUndefined();
    expect(parseClientFrame(JSON.stringify(long))).toEqual({ ok: true, frame: long as never });
    const over = parseClientFrame(JSON.stringify({ type: "message", message: astral.repeat(LIMITS.message + 1), clientId: "c9" }));
    expect(over).toMatchObject({ ok: false, code: "too_long", clientId: "c9" });
    expect(parseClientFrame(JSON.stringify({ type: "message", message: "bell\u0007", clientId: "c8" }))).toMatchObject({ ok: false, code: "bad_frame", clientId: "c8" });
  });

  test("unknown fields are dropped, as by the schema", () => {
    expect(parseClientFrame('{"type":"message","message":"hi","extra":1,"clientId":"a"}')).toEqual({ ok: true, frame: { type: "message", message: "hi", clientId: "a" } });
  });
});

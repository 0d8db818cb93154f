// The text rules as plain functions (PROTOCOL.md, "Text rules"); the same rules over real sockets
// against the binary are in test/hardening/text-rules.test.ts.
import { describe, expect, test } from "bun:test";
import { isMessageText, normalizeName } from "../../src/protocol/text";
import { INVISIBLE, ORDINARY } from "./text-cases";

const hex = (c: string) => [...c].map((p) => `U+${p.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}`).join(" ");

describe("names", () => {
  for (const [what, c] of INVISIBLE) {
    test(`${what} (${hex(c)}) is refused, inside a name and alone`, () => {
      expect(normalizeName(`ad${c}a`)).toBeUndefined();
      expect(normalizeName(c)).toBeUndefined();
    });
  }

  test("every default-ignorable and format character, up to the end of the variation selectors, is refused", () => {
    const refusedClass = /[\p{Default_Ignorable_Code_Point}\p{Cf}]/u;
    let checked = 0;
    for (let cp = 0; cp <= 0xe0fff; cp++) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue;
      const c = String.fromCodePoint(cp);
      if (!refusedClass.test(c)) continue;
      checked++;
      if (normalizeName(`ad${c}a`) !== undefined) throw new Error(`${hex(c)} passed`);
    }
    expect(checked).toBeGreaterThan(4000); // the tag and variation selector blocks alone are ~4,000
  });

  test("more than 2 combining marks in a row are refused (31 of them, and 3)", () => {
    expect(normalizeName(`Zalgo${"\u0336".repeat(31)}`)).toBeUndefined();
    expect(normalizeName("x\u0301\u0302\u0303")).toBeUndefined();
    expect(normalizeName("x\u0301\u0302")).toBe("x\u0301\u0302");
  });

  test("lone surrogates are refused; a pair is one character", () => {
    for (const name of ["ad\ud800a", "ad\udc00a", "\ud83d", "a\ude00"]) expect(normalizeName(name)).toBeUndefined();
    expect(normalizeName("\ud83d\ude00")).toBe("😀");
  });

  test("U+FE0F belongs to the emoji right before it, not to a letter, digit or a space", () => {
    expect(normalizeName("❤\ufe0f")).toBe("❤\ufe0f");
    expect(normalizeName("1\ufe0f\u20e3")).toBe("1\ufe0f\u20e3"); // keycap
    for (const name of ["ada\ufe0f", "bob1\ufe0f", "a \ufe0f", "❤\ufe0f\ufe0f", "\ufe0f❤"]) expect(normalizeName(name)).toBeUndefined();
  });

  test("emoji joined by U+200D (family, profession) are refused: the joiner is default-ignorable", () => {
    expect(normalizeName("👨\u200d👩\u200d👧")).toBeUndefined();
    expect(normalizeName("👩\u200d💻 ada")).toBeUndefined();
    expect(normalizeName("👨 👩 👧")).toBe("👨 👩 👧"); // the same people, apart
  });

  test("ordinary names in many scripts pass, NFC-normalized and trimmed", () => {
    for (const name of ORDINARY) expect(normalizeName(` ${name.normalize("NFD")} `)).toBe(name.normalize("NFC"));
  });
});

describe("messages", () => {
  test("C0 and C1 controls are refused, but tab and line feed; carriage return too", () => {
    for (let cp = 0; cp <= 0x9f; cp++) {
      if (cp > 0x1f && cp < 0x7f) continue;
      const ok = cp === 0x09 || cp === 0x0a;
      expect([cp, isMessageText(`a${String.fromCharCode(cp)}b`)]).toEqual([cp, ok]);
    }
    expect(isMessageText("a\r\nb")).toBe(false);
  });

  test("anything else passes, invisible characters included; lone surrogates do not", () => {
    expect(isMessageText("ad\u200da \u2028 \u00ad 👨\u200d👩\u200d👧 \u{e0041} ❤\ufe0f")).toBe(true);
    expect(isMessageText("x\ud800")).toBe(false);
    expect(isMessageText("\udfff x")).toBe(false);
  });
});

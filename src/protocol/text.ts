// The contract's text rules (PROTOCOL.md, "Text rules"): plain functions, no zod, shared by the
// frame schemas, the hub, the client and the page. Character classes come from the runtime's own
// Unicode data (regex property escapes), not hand-kept ranges that go stale with each version.

/** No lone surrogates: SQLite stores them as U+FFFD, so a stored text would differ from the sent one. */
export const isWellFormed = (text: string): boolean => (text as string & { isWellFormed(): boolean }).isWellFormed();

// C0 and C1 controls but tab (U+0009) and line feed (U+000A). Besides being invisible, each one
// escapes to six bytes in JSON (\u0001): 2,000 of them made a 12 KB message.
const CONTROL_IN_MESSAGE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

/** A message's text is well-formed and holds no control character but tab and line feed. */
export const isMessageText = (text: string): boolean => isWellFormed(text) && !CONTROL_IN_MESSAGE.test(text);

// What a name refuses, so that one name cannot pass for another: controls (Cc), format
// characters (Cf: soft hyphen, zero-width and bidirectional marks, tags, U+180E...),
// default-ignorables (the same and more: U+034F, Hangul fillers U+115F/U+1160/U+3164/U+FFA0,
// variation selectors), line and paragraph separators, and the Braille blank U+2800, which is a
// visible-width nothing that no property above covers.
const INVISIBLE_IN_NAME = /[\p{Cc}\p{Cf}\p{Default_Ignorable_Code_Point}\p{Zl}\p{Zp}\u2800]/u;
// Stacked marks ("Zalgo" text) draw over the neighbouring names; two cover real scripts.
const MARKS_IN_A_ROW = /\p{M}{3}/u;
// U+FE0F right after an emoji asks for its colour form (❤️, ☺️, and keycaps such as 1️⃣): it
// belongs to the emoji and is taken out before the test above. After a letter it is invisible.
const EMOJI_PRESENTATION = /(\p{Extended_Pictographic})\uFE0F|([#*0-9])\uFE0F(?=\u20E3)/gu;

/** A name's length in characters (code points); LIMITS.name. */
export const NAME_MAX = 32;

/** The name as the room will show it (trimmed, NFC), or undefined when it breaks the rules. */
export function normalizeName(raw: string): string | undefined {
  if (!isWellFormed(raw)) return undefined;
  const name = raw.normalize("NFC").trim();
  // Characters are code points, as zod counts them for messages: an emoji is one.
  const length = [...name].length;
  if (length < 1 || length > NAME_MAX) return undefined;
  const rest = name.includes("\uFE0F") ? name.replace(EMOJI_PRESENTATION, "$1$2") : name;
  if (INVISIBLE_IN_NAME.test(rest) || MARKS_IN_A_ROW.test(name)) return undefined;
  return name;
}

// A look at a frame's shape before JSON.parse, which costs far more on some inputs than on a valid
// frame of the same size: 64 KB of `[[[[` took 3-8 ms to parse here, a 6,000-key object 0.5-1.9
// ms, a 2 KB message frame 1 us. Every frame of the contract is one flat object with a few
// fields, so a frame that is not an object, is nested deep, or has many members is refused
// without being parsed. The scan is linear and skips over strings with indexOf: ~1 us for a
// frame of the usual shape, under 100 us for the worst 64 KB measured.

/** Nesting a frame may have: the contract's are flat (1); room for fields that may be added. */
export const MAX_DEPTH = 4;
/** Members and elements (commas) in all: the largest frame has 5 fields; same room. */
export const MAX_COMMAS = 32;

export type ShapeProblem = "not_object" | "too_deep" | "too_wide";

// A string, or a token that changes the depth or the count. Sticky scanning with `lastIndex`
// lets the regex engine skip everything else (numbers, whitespace, literals) natively.
const TOKEN = /["{}[\],]/g;
const FIRST = /\S/;

/** Why the text cannot be a frame, found without parsing it; undefined: parse it and see. */
export function shapeProblem(text: string): ShapeProblem | undefined {
  const start = text.search(FIRST);
  if (text.charCodeAt(start) !== 0x7b /* { */) return "not_object";
  let depth = 0;
  let commas = 0;
  TOKEN.lastIndex = start;
  while (TOKEN.test(text)) {
    const at = TOKEN.lastIndex - 1;
    switch (text.charCodeAt(at)) {
      case 0x22 /* " */: {
        const end = stringEnd(text, at);
        if (end < 0) return undefined; // unterminated: JSON.parse says so at once
        TOKEN.lastIndex = end + 1;
        break;
      }
      case 0x7b /* { */:
      case 0x5b /* [ */:
        if (++depth > MAX_DEPTH) return "too_deep";
        break;
      case 0x7d /* } */:
      case 0x5d /* ] */:
        // The frame's object closed: whatever follows is an error JSON.parse finds right there.
        if (--depth <= 0) return undefined;
        break;
      default: // ,
        if (++commas > MAX_COMMAS) return "too_wide";
    }
  }
  return undefined;
}

/** The index of the quote that closes the string opened at `open`, or -1. */
function stringEnd(text: string, open: number): number {
  const quote = text.indexOf('"', open + 1);
  // The usual string has no escaped quote: one native search.
  if (quote < 0 || text.charCodeAt(quote - 1) !== 0x5c /* \ */) return quote;
  for (let i = open + 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5c) i++; // the escaped character, whatever it is
    else if (c === 0x22) return i;
  }
  return -1;
}

// The look at a frame's shape before JSON.parse: it refuses the inputs that make JSON.parse slow,
// never a frame of the contract, and costs little on any input.
import { expect, test } from "bun:test";
import { MAX_COMMAS, MAX_DEPTH, shapeProblem } from "../../src/protocol/shape";
import { prng } from "../hardening/fuzz-frames";

const KB64 = 64 * 1024;
/** The slow inputs issue 11 measured, at 64 KB. */
const SLOW = {
  "nested arrays": "[".repeat(KB64),
  "an object holding nested arrays": `{"type":"message","message":${"[".repeat(KB64 - 30)}`,
  "6,000 keys": `{${Array.from({ length: 6000 }, (_, i) => `"k${i}":1`).join(",")}}`,
  "a long array": `{"type":"message","message":[${"1,".repeat(KB64 / 2 - 20)}1]}`,
};

test("the slow shapes are refused without parsing", () => {
  expect(shapeProblem(SLOW["nested arrays"])).toBe("not_object");
  expect(shapeProblem(SLOW["an object holding nested arrays"])).toBe("too_deep");
  expect(shapeProblem(SLOW["6,000 keys"])).toBe("too_wide");
  expect(shapeProblem(SLOW["a long array"])).toBe("too_wide");
  for (const text of ["42", "null", '"a"', "", "   ", "hello", "[1]"]) expect(shapeProblem(text)).toBe("not_object");
});

test("the limits leave room: nesting to MAX_DEPTH and MAX_COMMAS commas pass", () => {
  const nested = `{"a":${"[".repeat(MAX_DEPTH - 1)}${"]".repeat(MAX_DEPTH - 1)}}`;
  expect(shapeProblem(nested)).toBeUndefined();
  expect(shapeProblem(`{"a":${"[".repeat(MAX_DEPTH)}${"]".repeat(MAX_DEPTH)}}`)).toBe("too_deep");
  const wide = (n: number) => `{${Array.from({ length: n }, (_, i) => `"k${i}":1`).join(",")}}`;
  expect(shapeProblem(wide(MAX_COMMAS + 1))).toBeUndefined();
  expect(shapeProblem(wide(MAX_COMMAS + 2))).toBe("too_wide");
});

test("no frame of the contract is refused, whatever its strings hold", () => {
  const random = prng(11);
  const alphabet = ['"', "\\", "{", "}", "[", "]", ",", ":", " ", "a", "é", "😀", "\n", "\u0001", "\u2028"];
  const text = () => Array.from({ length: Math.floor(random() * 60) }, () => alphabet[Math.floor(random() * alphabet.length)]).join("");
  for (let i = 0; i < 2000; i++) {
    const frame = random() < 0.5
      ? { type: "message", message: text(), clientId: text(), timestamp: random() * 1e13 }
      : { type: "join", name: text(), since: Math.floor(random() * 1e9), timestamp: null, token: text() };
    const json = JSON.stringify(frame, null, i % 3 === 0 ? 2 : undefined);
    const spaced = i % 5 === 0 ? `\n ${json} \t` : json;
    if (shapeProblem(spaced) !== undefined) throw new Error(`refused: ${spaced}`);
  }
  // A string that ends in escaped backslashes, and escaped quotes next to brackets.
  expect(shapeProblem(JSON.stringify({ type: "message", message: "a\\\\", clientId: '\\"[[[' }))).toBeUndefined();
  expect(shapeProblem(JSON.stringify({ type: "message", message: '"{[,'.repeat(5000) }))).toBeUndefined();
});

test("the look costs little on any input, the slowest JSON.parse inputs included", () => {
  const big = {
    ...SLOW,
    "a frame of escaped quotes": `{"type":"message","message":"${'\\"'.repeat(KB64 / 2 - 20)}"}`,
    "a frame of whitespace": `{${" ".repeat(KB64 - 2)}}`,
    "a huge number": `{"type":"message","since":${"9".repeat(KB64 - 30)}}`,
    "a plain 2,000-character message": JSON.stringify({ type: "message", message: "x".repeat(2000), clientId: "c1" }),
  };
  const rows: string[] = [];
  let slowestLook = 0;
  for (const [what, text] of Object.entries(big)) {
    const cost = (runs: number, fn: () => unknown) => {
      fn();
      const start = performance.now();
      for (let i = 0; i < runs; i++) fn();
      return ((performance.now() - start) / runs) * 1000;
    };
    const look = cost(20, () => shapeProblem(text));
    const parse = cost(3, () => {
      try {
        JSON.parse(text);
      } catch {}
    });
    slowestLook = Math.max(slowestLook, look);
    rows.push(`${what}: look ${look.toFixed(1)} us, JSON.parse ${parse.toFixed(1)} us`);
  }
  console.log(rows.join("\n"));
  // ~100 us on this machine at worst; JSON.parse of the nested arrays takes milliseconds.
  expect(slowestLook).toBeLessThan(1500);
});

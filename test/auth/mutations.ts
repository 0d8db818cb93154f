// Mutations of a valid token, seeded: the fuzz of the verifier (fuzz.test.ts) and of joins over
// the compiled binary (test/http/verified-joins.test.ts) share them.
import { hmacToken } from "./keys";
import { seededRandom as random } from "../random";

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const b64 = (o: unknown) => Buffer.from(typeof o === "string" ? o : JSON.stringify(o)).toString("base64url");

/** `count` tokens, each a breakage of `token` (never `token` itself), replayable from `seed`. */
export function mutations(token: string, count: number, seed: number): string[] {
  const next = random(seed);
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(items: readonly T[]) => items[int(items.length)]!;
  const garbage = (n: number, alphabet = B64) => Array.from({ length: n }, () => alphabet[int(alphabet.length)]).join("");
  const parts = token.split(".");
  const exp = Math.floor(Date.now() / 1000) + 3600;
  const kinds: (() => string)[] = [
    // Truncated anywhere, the empty string included.
    () => token.slice(0, int(token.length)),
    // One bit flipped in one character of the header, the payload or the signature.
    () => {
      const part = int(3);
      const start = parts.slice(0, part).reduce((n, p) => n + p.length + 1, 0);
      const at = start + int(parts[part]!.length);
      const flipped = String.fromCharCode(token.charCodeAt(at) ^ (1 << int(8)));
      return token.slice(0, at) + flipped + token.slice(at + 1);
    },
    // A part replaced with base64url garbage, or with arbitrary text.
    () => parts.map((p, i) => (i === int(3) ? garbage(int(2 * p.length + 2)) : p)).join("."),
    () => parts.map((p, i) => (i === int(3) ? garbage(int(40), "=+/ .\u0000\u00e9\ud800\u{1f600}{}[]\"\\") : p)).join("."),
    // Dots added, removed or moved; parts swapped.
    () => pick([parts.join(""), parts.join(".."), `${token}.`, `.${token}`, `${parts[0]}.${parts[1]}`, `${parts[1]}.${parts[0]}.${parts[2]}`, `${token}.${parts[2]}`]),
    // A huge header (wide or deep), under or over the length limit, on the original signature.
    () => `${b64({ alg: "HS256", x: garbage(500 + int(4000)) })}.${parts[1]}.${parts[2]}`,
    () => {
      const depth = 1 + int(1500);
      return `${b64(`{"alg":"HS256","x":${"[".repeat(depth)}${"]".repeat(depth)}}`)}.${parts[1]}.${parts[2]}`;
    },
    // Headers a forger would try, correctly HMAC-signed or not.
    () => hmacToken({ alg: pick(["none", "NONE", "nOnE", "HS512", "HS384", "RS256", "ES256", "EdDSA", "", null, 1, ["HS256"], { a: 1 }]) }, { sub: "u", exp }),
    () => `${b64({ alg: pick(["none", "None", "HS256"]), typ: "JWT" })}.${parts[1]}.${pick(["", parts[2], garbage(43)])}`,
    // Headers and payloads that are not JSON objects, validly signed.
    () => hmacToken(pick(["", "null", "[]", "1", '"HS256"', "{", '{"alg":"HS256"', "\u0000"]), { sub: "u", exp }),
    () => hmacToken({ alg: "HS256" }, pick(["", "null", "[]", "1", "true", '"x"', "{", '{"sub":"u"', "\ud800", '{"sub":"u","exp":1e999}'])),
    // Claims of every wrong type, validly signed.
    () =>
      hmacToken(
        { alg: "HS256" },
        {
          sub: pick(["", null, 1, [], {}, "x".repeat(129), "a\u0000b", undefined]),
          exp: pick([exp, "1", null, -1, 1e308, 0, undefined, [exp]]),
          ...(next() < 0.5 ? { nbf: pick([exp, "0", null, {}]) } : {}),
          ...(next() < 0.5 ? { iat: pick(["now", null, {}]) } : {}),
          ...(next() < 0.5 ? { name: pick(["", null, 5, "x".repeat(40), "\u202e", "a\u0301\u0301\u0301"]) } : {}),
          ...(next() < 0.5 ? { rooms: pick(["*", null, {}, [null], ["a b"], ["x*y"], [""]]) } : {}),
        },
      ),
  ];
  const out: string[] = [];
  while (out.length < count) {
    const mutated = pick(kinds)();
    if (mutated !== token) out.push(mutated);
  }
  return out;
}

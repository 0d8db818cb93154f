// The page's pure access helpers (public/access.ts): the fragment that holds a room and a token,
// the address without the token, the name a token carries, refusals in words. No browser needed.
import { describe, expect, test } from "bun:test";
import { parseFragment, refusalText, tokenName, withoutToken } from "../../public/access";

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
const jwt = (payload: unknown) => `${b64url({ alg: "HS256", typ: "JWT" })}.${b64url(payload)}.c2lnbmF0dXJl`;

describe("parseFragment", () => {
  test("the room alone, as links always had it", () => {
    expect(parseFragment("#lobby")).toEqual({ room: "lobby" });
    expect(parseFragment("#room=side.room")).toEqual({ room: "side.room" });
    expect(parseFragment("")).toEqual({});
    expect(parseFragment("#")).toEqual({});
  });

  test("a token, with or without a room, in either order", () => {
    expect(parseFragment("#token=a.b.c")).toEqual({ token: "a.b.c" });
    expect(parseFragment("#lobby&token=a.b.c")).toEqual({ room: "lobby", token: "a.b.c" });
    expect(parseFragment("#token=a.b.c&room=team-1")).toEqual({ room: "team-1", token: "a.b.c" });
    expect(parseFragment("#room=team-1&token=a.b.c")).toEqual({ room: "team-1", token: "a.b.c" });
    // base64url has no characters a fragment or a query would change; a percent-encoded one works too.
    expect(parseFragment("#token=a%2Eb.c_-")).toEqual({ token: "a.b.c_-" });
  });

  test("what is not a room name is no room, and an empty token is no token", () => {
    expect(parseFragment("#no spaces")).toEqual({});
    expect(parseFragment("#room=a/b&token=t")).toEqual({ token: "t" });
    expect(parseFragment("#lobby&token=")).toEqual({ room: "lobby" });
    expect(parseFragment("#token")).toEqual({});
  });
});

describe("withoutToken", () => {
  test("keeps the room and everything else of the address, drops the token", () => {
    expect(withoutToken("http://h:3000/#lobby&token=a.b.c")).toBe("http://h:3000/#lobby");
    expect(withoutToken("http://h:3000/#token=a.b.c&room=team")).toBe("http://h:3000/#team");
    expect(withoutToken("http://h:3000/?room=lobby#token=a.b.c")).toBe("http://h:3000/?room=lobby");
    expect(withoutToken("http://h:3000/#token=a.b.c")).toBe("http://h:3000/");
    expect(withoutToken("http://h:3000/?room=x#lobby")).toBe("http://h:3000/?room=x#lobby");
  });

  test("the token's text is nowhere in the result", () => {
    const token = jwt({ sub: "u1", name: "ada", exp: 2_000_000_000 });
    for (const hash of [`#token=${token}`, `#lobby&token=${token}`, `#token=${token}&room=lobby`]) {
      expect(withoutToken(`http://h/${hash}`)).not.toContain(token.split(".")[1]!);
    }
  });
});

describe("tokenName", () => {
  test("the name claim, when it is one the server would take", () => {
    expect(tokenName(jwt({ sub: "u1", name: "Ada Lovelace" }))).toBe("Ada Lovelace");
    expect(tokenName(jwt({ sub: "u1", name: "דנה" }))).toBe("דנה");
  });

  test("nothing from a token without a usable name, or from what is not a token", () => {
    expect(tokenName(jwt({ sub: "u1" }))).toBeUndefined();
    expect(tokenName(jwt({ sub: "u1", name: 42 }))).toBeUndefined();
    expect(tokenName(jwt({ sub: "u1", name: "x".repeat(100) }))).toBeUndefined();
    expect(tokenName(jwt({ sub: "u1", name: "a\u0000b" }))).toBeUndefined();
    expect(tokenName("not a token")).toBeUndefined();
    expect(tokenName("a.!!!.c")).toBeUndefined();
    expect(tokenName("a..c")).toBeUndefined();
  });
});

describe("refusalText", () => {
  test("each refusal in words", () => {
    expect(refusalText("unauthorized")).toBe("This room needs you to sign in.");
    expect(refusalText("unauthorized", "token refused", true)).toStartWith("This room needs you to sign in");
    expect(refusalText("forbidden")).toBe("You are not allowed in this room.");
    expect(refusalText("forbidden", "not allowed")).toBe("You are not allowed in this room.");
    expect(refusalText("forbidden", "kicked")).toBe("You were removed from this room.");
    expect(refusalText("forbidden", "banned")).toBe("You are banned from this room.");
  });

  test("other codes are not refusals", () => {
    expect(refusalText("rate_limited")).toBeUndefined();
    expect(refusalText("unavailable", "kicked")).toBeUndefined();
  });
});

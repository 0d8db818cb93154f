// The contract's access rules as pure functions: the `rooms` claim, and who may enter which room.
import { describe, expect, test } from "bun:test";
import { admit, isRoomPattern, isUserId, roomAllowed } from "../../src/rooms/identity";

describe("roomAllowed", () => {
  const with_ = (rooms?: string[]) => ({ userId: "u1", rooms });

  test("without a rooms claim: every public room, no private one", () => {
    expect(roomAllowed(with_(), "lobby")).toBe(true);
    expect(roomAllowed(with_(), "lobby", true)).toBe(false);
  });

  test("exact names cover only that room, public or private", () => {
    const identity = with_(["team-a", "lobby"]);
    expect(roomAllowed(identity, "team-a")).toBe(true);
    expect(roomAllowed(identity, "team-a", true)).toBe(true);
    expect(roomAllowed(identity, "team-ab")).toBe(false);
    expect(roomAllowed(identity, "team")).toBe(false);
    expect(roomAllowed(identity, "other")).toBe(false);
  });

  test("a prefix ending in * covers the rooms that start with it, and * covers every room", () => {
    const identity = with_(["team-*"]);
    expect(roomAllowed(identity, "team-a", true)).toBe(true);
    expect(roomAllowed(identity, "team-")).toBe(true);
    expect(roomAllowed(identity, "team")).toBe(false);
    expect(roomAllowed(identity, "xteam-a")).toBe(false);
    expect(roomAllowed(identity, "TEAM-a")).toBe(false);
    expect(roomAllowed(with_(["*"]), "anything.at_all", true)).toBe(true);
  });

  test("an empty rooms claim covers no room at all", () => {
    expect(roomAllowed(with_([]), "lobby")).toBe(false);
  });
});

describe("admit", () => {
  const open = { private: false, anonymous: true };
  test("no token: public rooms while anonymous joins are on; else unauthorized (a token is needed)", () => {
    expect(admit(undefined, "lobby", open)).toBe("allowed");
    expect(admit(undefined, "lobby", { private: true, anonymous: true })).toBe("unauthorized");
    expect(admit(undefined, "lobby", { private: false, anonymous: false })).toBe("unauthorized");
  });

  test("a verified identity: forbidden when its rooms miss the room", () => {
    expect(admit({ userId: "u" }, "lobby", { private: false, anonymous: false })).toBe("allowed");
    expect(admit({ userId: "u" }, "secret", { private: true, anonymous: true })).toBe("forbidden");
    expect(admit({ userId: "u", rooms: ["secret"] }, "secret", { private: true, anonymous: false })).toBe("allowed");
    expect(admit({ userId: "u", rooms: ["team-*"] }, "lobby", open)).toBe("forbidden");
  });
});

describe("claim shapes", () => {
  test("isUserId: 1-128 characters (code points), well-formed, no controls", () => {
    expect(isUserId("a")).toBe(true);
    expect(isUserId("x".repeat(128))).toBe(true);
    expect(isUserId("😀".repeat(128))).toBe(true);
    expect(isUserId("x".repeat(129))).toBe(false);
    expect(isUserId("")).toBe(false);
    expect(isUserId("a\nb")).toBe(false);
    expect(isUserId("a\u0085")).toBe(false);
    expect(isUserId("\ud800")).toBe(false);
    expect(isUserId(42)).toBe(false);
    expect(isUserId(undefined)).toBe(false);
  });

  test("isRoomPattern: a room name, or a prefix of one ending in *", () => {
    for (const ok of ["lobby", "team-*", "*", "a.b_c-*", "x".repeat(64), `${"x".repeat(63)}*`]) expect(isRoomPattern(ok)).toBe(true);
    for (const bad of ["", "a*b", "**", "te am", "x".repeat(65), `${"x".repeat(64)}*`, "é", 7, null]) expect(isRoomPattern(bad)).toBe(false);
  });
});

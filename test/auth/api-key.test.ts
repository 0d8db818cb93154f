// The server API's key check: only `Authorization: Bearer <key>`, any of the configured keys.
import { describe, expect, test } from "bun:test";
import { createApiKeyCheck } from "../../src/auth/api-key";

describe("createApiKeyCheck", () => {
  const check = createApiKeyCheck(["first-key-0123456789", "second-key-abcdef"]);

  test("each configured key is accepted (rotation), in the Bearer scheme, whatever its case", () => {
    expect(check("Bearer first-key-0123456789")).toBe(true);
    expect(check("Bearer second-key-abcdef")).toBe(true);
    expect(check("bearer second-key-abcdef")).toBe(true);
    expect(check("BEARER  first-key-0123456789 ")).toBe(true);
  });

  test("anything else is refused: no header, another scheme, a wrong key, a prefix or extension of a key", () => {
    for (const header of [
      undefined,
      null,
      "",
      "Bearer",
      "Bearer ",
      "first-key-0123456789",
      "Basic first-key-0123456789",
      "Bearerfirst-key-0123456789",
      "Bearer first-key-012345678",
      "Bearer first-key-01234567890",
      "Bearer FIRST-KEY-0123456789",
      "Bearer first-key-0123456789,second-key-abcdef",
      "Bearer x",
      `Bearer ${"x".repeat(100_000)}`,
    ]) {
      expect(check(header)).toBe(false);
    }
  });

  test("no keys configured: nothing is accepted (blank keys are no keys)", () => {
    expect(createApiKeyCheck([])("Bearer ")).toBe(false);
    expect(createApiKeyCheck([""])("Bearer ")).toBe(false);
    expect(createApiKeyCheck([])("Bearer anything")).toBe(false);
  });
});

// The client's `members` (src/client/identities.ts): verified users by id, anonymous names once,
// always within the name roster's names (which stays the truth for who is here).
import { expect, test } from "bun:test";
import { Identities } from "../../src/client/identities";

const joined = (name: string, userId?: string) => ({ type: "joined" as const, name, ...(userId ? { userId } : {}) });
const left = (name: string, userId?: string) => ({ type: "left" as const, name, ...(userId ? { userId } : {}) });

test("from the history's members, then presence: each verified user once with its id, each anonymous name once", () => {
  const ids = new Identities();
  ids.reset([{ name: "ada", userId: "u1" }, { name: "bob" }]);
  expect(ids.members(["ada", "bob"])).toEqual([{ name: "ada", userId: "u1" }, { name: "bob" }]);
  // An anonymous "ada" joins: two entries under one name, only one with an id.
  ids.apply(joined("ada"));
  expect(ids.members(["ada", "bob"])).toEqual([{ name: "ada", userId: "u1" }, { name: "ada" }, { name: "bob" }]);
  // The verified one opens a second tab, then closes one: still here.
  ids.apply(joined("ada", "u1"));
  ids.apply(left("ada", "u1"));
  expect(ids.members(["ada", "bob"])).toContainEqual({ name: "ada", userId: "u1" });
  // She leaves: the anonymous "ada" stays, without an id.
  ids.apply(left("ada", "u1"));
  expect(ids.members(["ada", "bob"])).toEqual([{ name: "ada" }, { name: "bob" }]);
});

test("the roster decides who is here: a name it dropped is nobody's, a name it keeps is someone's", () => {
  const ids = new Identities();
  ids.reset([{ name: "ada", userId: "u1" }]);
  expect(ids.members([])).toEqual([]);
  // A name the identities never heard of (its frame still on the way) shows without an id.
  expect(ids.members(["ada", "cid"])).toEqual([{ name: "ada", userId: "u1" }, { name: "cid" }]);
  // Two tabs listed once in the history, one leaves: the roster (exact) still has the name.
  ids.reset([{ name: "bob" }]);
  ids.apply(left("bob"));
  expect(ids.members(["bob"])).toEqual([{ name: "bob" }]);
});

test("without members (a server before identities): names only, none verified", () => {
  const ids = new Identities();
  ids.reset(undefined);
  ids.apply(joined("ada"));
  expect(ids.members(["ada", "bob"])).toEqual([{ name: "ada" }, { name: "bob" }]);
});

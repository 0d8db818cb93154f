// fitHistory: the byte cap of a history frame, from either end.
import { expect, test } from "bun:test";
import type { Message } from "../../src/protocol/frames";
import { fitHistory } from "../../src/rooms/history";

const message = (id: number, text: string): Message => ({ id, room: "r", name: "n", message: text, timestamp: 1 });
const bytes = (messages: Message[]) => Buffer.byteLength(JSON.stringify(messages));

test("keeps the longest run that fits as a JSON array, from the newest or the oldest end", () => {
  const all = Array.from({ length: 50 }, (_, i) => message(i + 1, "é".repeat(100 + i))); // 2 bytes a character
  const budget = 3000;
  const newest = fitHistory(all, budget, "newest");
  const oldest = fitHistory(all, budget, "oldest");
  expect(bytes(newest)).toBeLessThanOrEqual(budget);
  expect(bytes(all.slice(-newest.length - 1))).toBeGreaterThan(budget);
  expect(newest.at(-1)).toBe(all.at(-1)!);
  expect(bytes(oldest)).toBeLessThanOrEqual(budget);
  expect(bytes(all.slice(0, oldest.length + 1))).toBeGreaterThan(budget);
  expect(oldest[0]).toBe(all[0]!);
  // Exactly at the budget still fits.
  expect(fitHistory(all.slice(0, 3), bytes(all.slice(0, 3)), "newest")).toEqual(all.slice(0, 3));
  expect(fitHistory(all.slice(0, 3), bytes(all.slice(0, 3)) - 1, "newest")).toEqual(all.slice(1, 3));
});

test("one message is kept even over the budget (an empty resume would read as nothing missed); none from none", () => {
  const big = [message(1, "x".repeat(500)), message(2, "y".repeat(500))];
  expect(fitHistory(big, 10, "oldest")).toEqual([big[0]!]);
  expect(fitHistory(big, 10, "newest")).toEqual([big[1]!]);
  expect(fitHistory([], 10, "newest")).toEqual([]);
});

test("what fits is the whole history, returned as is", () => {
  const few = [message(1, "a"), message(2, "b")];
  expect(fitHistory(few, 1024, "newest")).toBe(few);
});

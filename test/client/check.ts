import { expect } from "bun:test";
import type { Message } from "../../src/protocol/frames";
import { freePort } from "../ports";

export { freePort };

/** A port that was free a moment ago: the restart tests need to know it before starting. */

const texts = (messages: Message[]) => messages.map((m) => m.message);

/** Zero lost, zero duplicated, order kept: for both clients and for what the server stored. */
export function expectWholeConversation(result: { acked: Message[]; ann: Message[]; ben: Message[] }, stored: Message[], perPhase: number) {
  const expected = ["end"];
  for (const who of ["ann", "ben"]) for (let p = 1; p <= 3; p++) for (let i = 0; i < perPhase; i++) expected.push(`${who} ${p}.${i}`);
  expected.sort();

  // The server stored each message once.
  expect(texts(stored).sort()).toEqual(expected);
  for (const seen of [result.ann, result.ben]) {
    // Each client saw exactly what was stored, in id order, each once.
    expect(seen).toEqual(stored);
    const ids = seen.map((m) => m.id);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(ids.length);
    // Each sender's messages in the order they were sent.
    for (const who of ["ann", "ben"]) {
      const own = texts(seen.filter((m) => m.name === who && m.message !== "end"));
      const order = (t: string) => t.split(" ")[1]!.split(".").map(Number) as [number, number];
      expect(own).toEqual([...own].sort((a, b) => order(a)[0] - order(b)[0] || order(a)[1] - order(b)[1]));
    }
  }
  // Every ack is the stored message with that text.
  const byText = new Map(stored.map((m) => [m.message, m]));
  for (const ack of result.acked) expect(ack).toEqual(byText.get(ack.message)!);
}

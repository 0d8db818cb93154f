// What one node sends another: the header a receiver orders by, read without parsing the frame.
import { expect, test } from "bun:test";
import { decodeEnvelope, encodeEnvelope } from "../../src/bus/envelope";

const frame = '{"type":"message","id":12,"message":"a\\nb"}\n{"a raw newline in the frame":true}';

test("a message's id and prev, or a presence change's name and count, come back as sent; the frame untouched", () => {
  expect(decodeEnvelope(encodeEnvelope({ node: "n1", room: "r", id: 12, prev: 9 }, frame))).toEqual({ envelope: { node: "n1", room: "r", id: 12, prev: 9 }, frame });
  expect(decodeEnvelope(encodeEnvelope({ node: "n1", room: "r", name: "ann\n", sockets: 0 }, ""))).toEqual({ envelope: { node: "n1", room: "r", name: "ann\n", sockets: 0 }, frame: "" });
  expect(decodeEnvelope(encodeEnvelope({ node: "n1", room: "r" }, frame))).toEqual({ envelope: { node: "n1", room: "r" }, frame });
});

test("a presence change of a verified member carries its userId; one that is not a string is dropped, the change kept", () => {
  expect(decodeEnvelope(encodeEnvelope({ node: "n1", room: "r", name: "Ann", sockets: 1, userId: "u-ann" }, ""))?.envelope).toEqual({ node: "n1", room: "r", name: "Ann", sockets: 1, userId: "u-ann" });
  expect(decodeEnvelope(`${JSON.stringify({ node: "n1", room: "r", name: "Ann", sockets: 1, userId: 7 })}\n`)?.envelope).toEqual({ node: "n1", room: "r", name: "Ann", sockets: 1 });
  // Only with a presence change: a message's header never has one.
  expect(decodeEnvelope(`${JSON.stringify({ node: "n1", room: "r", id: 2, prev: 1, userId: "u" })}\n{}`)?.envelope).toEqual({ node: "n1", room: "r", id: 2, prev: 1 });
});

test("a header that is not one of ours is refused whole: a half place, a bad number, a name without a count", () => {
  const header = (fields: Record<string, unknown>) => `${JSON.stringify({ node: "n1", room: "r", ...fields })}\n{}`;
  for (const bad of [{ id: 3 }, { prev: 2 }, { id: "3", prev: 2 }, { id: 3.5, prev: 2 }, { id: -1, prev: 0 }, { name: "ann" }, { sockets: 1 }, { name: 7, sockets: 1 }, { node: 1 }])
    expect(decodeEnvelope(header(bad)), JSON.stringify(bad)).toBeUndefined();
  expect(decodeEnvelope("no header at all")).toBeUndefined();
  expect(decodeEnvelope("[1]\n{}")).toBeUndefined();
});

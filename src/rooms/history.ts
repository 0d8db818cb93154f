// The byte cap of a history frame (PROTOCOL.md: never more than 256 KiB of messages). A join's
// history goes out as one frame; one bigger than the socket's send buffer limit would close an
// ordinary joiner as a slow consumer right after every join (100 messages of 2,000 U+0001 made
// 1.2 MB). Measured as sent: the UTF-8 bytes of each message's JSON, commas and brackets.
import type { Message } from "../protocol/frames";

/** Serialized sizes, once per message object: the live rooms' cached messages live long. */
const sizes = new WeakMap<Message, number>();

function sizeOf(message: Message): number {
  let size = sizes.get(message);
  if (size === undefined) sizes.set(message, (size = Buffer.byteLength(JSON.stringify(message))));
  return size;
}

/**
 * The longest run of `messages` (oldest first) that fits in `budget` bytes as a JSON array,
 * kept from the newest end (a join: the oldest are left out, REST has them) or from the oldest
 * (a resume after `since`: what is left out is the newest, which the client pages forward to,
 * so nothing between `since` and the live stream is skipped). At least one message is kept even
 * if it alone is over the budget: an empty resume would read as "nothing missed".
 */
export function fitHistory(messages: Message[], budget: number, keep: "newest" | "oldest"): Message[] {
  let used = 1; // "[" and, per message, one "," or the closing "]"
  const count = messages.length;
  for (let taken = 0; taken < count; taken++) {
    const message = messages[keep === "newest" ? count - 1 - taken : taken]!;
    used += sizeOf(message) + 1;
    if (used > budget && taken > 0) return keep === "newest" ? messages.slice(count - taken) : messages.slice(0, taken);
  }
  return messages;
}

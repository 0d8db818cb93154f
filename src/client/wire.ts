// The contract's "Identity and access" additions (PROTOCOL.md) that the client uses, kept here
// until the protocol module has them (the server side lands on its own): the shapes and values
// are the contract's, and once src/protocol/frames.ts carries them these become re-exports.
import type { ClientFrame, HistoryFrame, JoinedFrame, LeftFrame } from "../protocol/frames";

/** Close codes of a refused join or a moderation action; the error frame before says `unauthorized` or `forbidden`. */
export const REFUSAL = { unauthorized: 4401, forbidden: 4403 } as const;
export type RefusalCode = keyof typeof REFUSAL;

/** Someone in the room: a verified user has its id in the app. */
export type Member = { name: string; userId?: string };

export type JoinWithToken = Extract<ClientFrame, { type: "join" }> & { token?: string };
export type HistoryWithMembers = HistoryFrame & { members?: Member[] };
/** `joined` / `left`, with the member's id when it was verified. */
export type PresenceFrame = (JoinedFrame | LeftFrame) & { userId?: string };

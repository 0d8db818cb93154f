// Who is in the room by identity (PROTOCOL.md "Identity and access"): the joiner's
// `history.members` and the `userId` of `joined`/`left`, on top of the name roster. The roster
// (roster.ts) stays the truth for which names are here; this only says which of them are
// verified users, and whether someone anonymous holds the name as well.
import type { JoinedFrame, LeftFrame, Member } from "../protocol/frames";

type Presence = Pick<JoinedFrame | LeftFrame, "type" | "name" | "userId">;

export class Identities {
  /** userId -> the name it is here under, and its sockets known (at least one per member listed). */
  private users = new Map<string, { name: string; sockets: number }>();
  /** name -> anonymous sockets known under it. */
  private anonymous = new Map<string, number>();

  reset(members: Member[] | undefined) {
    this.clear();
    for (const m of members ?? []) {
      if (m.userId !== undefined) this.users.set(m.userId, { name: m.name, sockets: 1 });
      else this.anonymous.set(m.name, 1);
    }
  }

  clear() {
    this.users.clear();
    this.anonymous.clear();
  }

  apply(frame: Presence) {
    const step = frame.type === "joined" ? 1 : -1;
    if (frame.userId === undefined) {
      const sockets = (this.anonymous.get(frame.name) ?? 0) + step;
      if (sockets > 0) this.anonymous.set(frame.name, sockets);
      else this.anonymous.delete(frame.name);
      return;
    }
    const sockets = (this.users.get(frame.userId)?.sockets ?? 0) + step;
    if (sockets > 0) this.users.set(frame.userId, { name: frame.name, sockets });
    else this.users.delete(frame.userId);
  }

  /**
   * The roster's names as members: each verified user here once (with its id), and a name once
   * without an id when someone anonymous holds it, or when no verified user is known to (a
   * member whose sockets we undercounted is still here while the roster has its name).
   */
  members(names: string[]): Member[] {
    const here = new Set(names);
    const verified = [...this.users].filter(([, u]) => here.has(u.name));
    const verifiedNames = new Set(verified.map(([, u]) => u.name));
    return [
      ...verified.map(([userId, { name }]) => ({ name, userId })),
      ...names.filter((name) => this.anonymous.has(name) || !verifiedNames.has(name)).map((name) => ({ name })),
    ];
  }
}

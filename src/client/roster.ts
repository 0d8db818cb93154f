import type { JoinedFrame, LeftFrame } from "../protocol/frames";

/**
 * Who is in the room, kept from the joiner's `history.online` and the `joined`/`left` frames
 * that follow. In a big room those carry a name and the room's `count` only, and a name may be
 * there through several sockets (two tabs), so a `left` alone does not say whether its name is
 * gone. The server orders each burst of presence (joins, then leaves of names now gone, then
 * leaves of names still there) and every frame of a burst carries the count after it: with
 * that, "drop the name unless the list would become shorter than the room" is exact. A frame
 * that lists `online` is the truth and replaces the list.
 */
export class Roster {
  /**
   * name -> sockets known under it. At most the real number: the history gives names, not
   * sockets, so a name from it counts 1 however many tabs it has.
   */
  private sockets = new Map<string, number>();

  reset(online: string[]) {
    this.sockets = new Map(online.map((name) => [name, 1]));
  }

  clear() {
    this.sockets.clear();
  }

  /** Applies a frame of someone else (our own `joined` is already in our history's list). */
  apply(frame: JoinedFrame | LeftFrame) {
    const known = this.sockets.get(frame.name);
    if (frame.type === "joined") this.sockets.set(frame.name, (known ?? 0) + 1);
    else if (known !== undefined) {
      if (known > 1) this.sockets.set(frame.name, known - 1);
      else if (this.sockets.size - 1 >= frame.count) this.sockets.delete(frame.name);
      // else: the name is still here through a socket we did not know of
    }
    if (frame.online) this.adopt(frame.online);
  }

  /**
   * Takes a full list as the truth. A name new to us is counted with no socket yet: the list is
   * the room after the whole burst, so that name's `joined` is still on its way in this burst.
   */
  adopt(online: string[]) {
    this.sockets = new Map(online.map((name) => [name, this.sockets.get(name) ?? 0]));
  }

  get names(): string[] {
    return [...this.sockets.keys()];
  }
}

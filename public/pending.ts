// The open room's unsent messages, under its conversation: each says where it stands (waiting
// for the connection, for the rate limit, or refused and why) and offers what can be done.
import { el } from "./messages";
import type { Entry, Outbox } from "./outbox";
import { MESSAGE_LIMIT } from "./text";

export type PendingAction = "retry" | "reconnect" | "cancel" | "edit";

const FAILURE_WORDS: Record<string, string> = {
  too_long: `too long: at most ${MESSAGE_LIMIT} characters`,
  too_big: "the server refused it as too big",
  unavailable: "the server could not store it",
  timeout: "the server did not answer in time",
  bad_frame: "the server refused it",
};

export class PendingView {
  private readonly items = new Map<string, HTMLLIElement>();
  private tick?: ReturnType<typeof setInterval>;

  constructor(
    private readonly list: HTMLOListElement,
    private readonly outbox: Outbox,
    private readonly now: { room: () => string; name: () => string; online: () => boolean },
    act: (action: PendingAction, clientId: string) => void,
  ) {
    list.addEventListener("click", (e) => {
      const button = (e.target as Element).closest<HTMLButtonElement>("button[data-action]");
      const item = button?.closest<HTMLLIElement>("li[data-client-id]");
      if (button && item) act(button.dataset.action as PendingAction, item.dataset.clientId!);
    });
  }

  /** Brings the list in line with the outbox; updated in place, so a focused button stays. */
  render() {
    const entries = this.outbox.entries(this.now.room());
    const keep = new Set(entries.map((e) => e.clientId));
    for (const [id, item] of this.items) {
      if (keep.has(id)) continue;
      item.remove();
      this.items.delete(id);
    }
    let countdown = false;
    for (const entry of entries) {
      let item = this.items.get(entry.clientId);
      if (!item) {
        item = el("li", "msg mine pending-msg");
        item.dataset.clientId = entry.clientId;
        const who = el("span", "name", this.now.name());
        who.dir = "auto";
        const text = el("div", "text", entry.text);
        text.dir = "auto";
        item.append(who, el("span", "time"), text, el("div", "pending-actions"));
        this.items.set(entry.clientId, item);
        this.list.append(item);
      }
      countdown = this.describe(item, entry) || countdown;
    }
    clearInterval(this.tick);
    if (countdown) this.tick = setInterval(() => this.render(), 500);
  }

  /** Status words and buttons of one unsent message; true while it shows a countdown. */
  private describe(item: HTMLLIElement, entry: Entry): boolean {
    const online = this.now.online();
    const waitMs = this.outbox.waitUntil - Date.now();
    let words: string;
    let actions: [PendingAction, string][] = [];
    if (entry.status === "sending") words = "Sending…";
    else if (entry.status === "failed") {
      words = `Not sent: ${FAILURE_WORDS[entry.code ?? ""] ?? entry.reason ?? "refused"}.`;
      actions = [
        ["retry", "Retry"],
        ["edit", "Edit"],
      ];
    } else if (!online) {
      words = "Not sent yet: will send when back online.";
      actions = [
        ["reconnect", "Retry now"],
        ["cancel", "Cancel"],
      ];
    } else if (waitMs > 0) {
      words = `Sending too fast: will send in ${Math.ceil(waitMs / 1000)} s.`;
      actions = [["cancel", "Cancel"]];
    } else words = "Waiting to send…";
    item.dataset.status = entry.status;
    const status = item.querySelector(".time")!;
    if (status.textContent !== words) status.textContent = words;
    const holder = item.querySelector<HTMLElement>(".pending-actions")!;
    const wanted = actions.map(([action]) => action).join();
    if (holder.dataset.actions !== wanted) {
      holder.dataset.actions = wanted;
      holder.replaceChildren(
        ...actions.map(([action, label]) => {
          const button = el("button", "link-button", label);
          button.type = "button";
          button.dataset.action = action;
          return button;
        }),
      );
    }
    return entry.status === "queued" && online && waitMs > 0;
  }
}

// Desktop notifications for @mentions and for messages while the tab is hidden. Opt-in: the
// permission is asked for only from the person's click on the button, and the choice is kept.
import type { Message } from "../src/protocol/frames";
import { KEYS, storage } from "./storage";
import { mentions } from "./text";

const supported = () => "Notification" in window;
const enabled = () => supported() && Notification.permission === "granted" && storage.get(KEYS.notify) === "on";

export function notifyButton(button: HTMLButtonElement) {
  const show = () => {
    button.hidden = !supported();
    if (button.hidden) return;
    const on = enabled();
    button.setAttribute("aria-pressed", String(on));
    button.textContent = Notification.permission === "denied" ? "Notifications blocked" : on ? "Notifications on" : "Notify me";
    button.title = `Desktop notifications for @mentions, and for messages while this tab is hidden${on ? ": click to turn off" : ""}`;
  };
  button.addEventListener("click", async () => {
    if (enabled()) storage.set(KEYS.notify, "off");
    else if ((await Notification.requestPermission()) === "granted") storage.set(KEYS.notify, "on");
    show();
  });
  show();
}

export function notify(messages: Message[], room: string, me: string) {
  if (!enabled()) return;
  for (const m of messages) {
    if (!document.hidden && !mentions(m.message, me)) continue;
    try {
      const note = new Notification(`${m.name} in #${room}`, { body: m.message.slice(0, 200), tag: `chat-${room}` });
      note.onclick = () => window.focus();
    } catch {} // some browsers only notify from a service worker
  }
}

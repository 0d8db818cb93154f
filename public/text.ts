// A message's text as DOM: links (http and https only) and @mentions, everything else as text
// nodes. Nothing people typed is ever parsed as HTML.
import { LIMITS } from "../src/protocol/limits";

/**
 * A message's length as the server counts it: zod's maxLength on the message frame counts
 * Unicode code points (an emoji like 😀 is 1; a flag or an emoji with a skin tone 2, a family of
 * emoji joined by ZWJ 5 or more), not UTF-16 units.
 */
export function messageLength(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/** C0/C1 controls but tab and line feed: the server refuses them in a message (bad_frame). */
export const REFUSED_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

export const MESSAGE_LIMIT = LIMITS.message;

// A URL runs to the next space; trailing punctuation is the sentence's, not the link's (but a
// closing parenthesis that closes one in the URL is the link's, as in Wikipedia's).
const URL_PATTERN = /\bhttps?:\/\/[^\s<>"'`]+/gi;
const TRAILING = new Set([...".,;:!?'\")]}"]);

function trimUrl(url: string): string {
  while (url.length > 0 && TRAILING.has(url.at(-1)!)) {
    if (url.endsWith(")") && url.split("(").length > url.split(")").length - 1) break;
    url = url.slice(0, -1);
  }
  return url;
}

function safeHref(candidate: string): string | undefined {
  try {
    const url = new URL(candidate);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : undefined;
  } catch {
    return undefined;
  }
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** Does the text mention this name (`@name`, any case, not followed by more of a word)? */
export function mentions(text: string, name: string): boolean {
  return mentionPattern(name).test(text);
}

const patterns = new Map<string, RegExp>();
function mentionPattern(name: string): RegExp {
  let pattern = patterns.get(name);
  if (!pattern) {
    pattern = new RegExp(`@${escapeRegExp(name)}(?![\\p{L}\\p{N}_])`, "iu");
    patterns.clear(); // one reader's name at a time
    patterns.set(name, pattern);
  }
  return pattern;
}

/** Appends the text to `into`: links as <a>, @mentions of `me` as <mark>, the rest as text. */
export function renderText(into: HTMLElement, text: string, me: string) {
  let at = 0;
  for (const match of text.matchAll(URL_PATTERN)) {
    const raw = trimUrl(match[0]);
    const href = safeHref(raw);
    if (!href) continue;
    appendMentions(into, text.slice(at, match.index), me);
    const link = document.createElement("a");
    link.href = href;
    link.target = "_blank";
    link.rel = "noopener noreferrer";
    link.textContent = raw;
    into.append(link);
    at = match.index! + raw.length;
  }
  appendMentions(into, text.slice(at), me);
}

function appendMentions(into: HTMLElement, text: string, me: string) {
  if (!text) return;
  const pattern = new RegExp(mentionPattern(me).source, "giu");
  let at = 0;
  for (const match of text.matchAll(pattern)) {
    if (match.index! > at) into.append(text.slice(at, match.index));
    const mark = document.createElement("mark");
    mark.className = "mention";
    mark.textContent = match[0];
    into.append(mark);
    at = match.index! + match[0].length;
  }
  if (at < text.length) into.append(text.slice(at));
}

// ---- times and days ----

const startOfDay = (d: Date) => new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();

export const dayKey = (timestamp: number) => startOfDay(new Date(timestamp));

/** "Today", "Yesterday", or the date (with the year when it is not this year's). */
export function dayLabel(timestamp: number, now = new Date()): string {
  const days = Math.round((startOfDay(now) - dayKey(timestamp)) / 86_400_000);
  if (days === 0) return "Today";
  if (days === 1) return "Yesterday";
  const at = new Date(timestamp);
  const sameYear = at.getFullYear() === now.getFullYear();
  return at.toLocaleDateString([], { weekday: "long", day: "numeric", month: "long", ...(sameYear ? {} : { year: "numeric" }) });
}

export const clock = (timestamp: number) => new Date(timestamp).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });

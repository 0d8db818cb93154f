// The page's side of "Identity and access" (PROTOCOL.md): reading a signed-in user's token from
// the URL fragment, and refusals in words. Pure functions (no DOM), so bun test covers them.
//
// The fragment holds the room and the token together: `#lobby&token=<jwt>`, or in any order
// `#token=<jwt>&room=lobby`; `#lobby` and `?room=lobby` still name the room alone. A fragment never
// reaches a server or its logs, and the page takes the token out of the address as soon as it
// has read it, so a copied link or the Invite button never hands it on.
import { isRoomName, normalizeName } from "../src/protocol/limits";

export interface Fragment {
  room?: string;
  token?: string;
}

/** The room and the token a fragment names (`#lobby&token=...`, `#token=...&room=lobby`, `#lobby`). */
export function parseFragment(hash: string): Fragment {
  const params = new URLSearchParams(hash.replace(/^#/, ""));
  let room = params.get("room") ?? undefined;
  // A bare word is the room, as in the `#lobby` links the page always understood.
  if (room === undefined) for (const [key, value] of params) if (value === "" && key !== "token" && key !== "room") room ??= key;
  const token = params.get("token") || undefined;
  return { ...(room !== undefined && isRoomName(room) ? { room } : {}), ...(token ? { token } : {}) };
}

/** The address without the token: the fragment keeps the room, or goes when nothing else was in it. */
export function withoutToken(href: string): string {
  const url = new URL(href);
  const { room } = parseFragment(url.hash);
  url.hash = room ?? "";
  // An empty fragment would still leave a trailing `#`.
  return url.hash ? url.href : url.href.replace(/#$/, "");
}

/**
 * The display name a token carries (its `name` claim), read to show who one is before the server
 * answers: the server verifies the token, the page only reads it. Undefined when absent or not a
 * name the server would take.
 */
export function tokenName(token: string): string | undefined {
  try {
    const payload = token.split(".")[1];
    if (!payload) return undefined;
    const base64 = payload.replace(/-/g, "+").replace(/_/g, "/");
    const json = new TextDecoder().decode(Uint8Array.from(atob(base64), (c) => c.charCodeAt(0)));
    const name = (JSON.parse(json) as { name?: unknown }).name;
    return typeof name === "string" ? normalizeName(name) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A refusal that ended the connection, in words: `unauthorized` (4401) and `forbidden` (4403),
 * with the close's reason for a moderation action. Undefined for any other code.
 */
export function refusalText(code: string, reason?: string, signedIn = false): string | undefined {
  if (code === "unauthorized") {
    return signedIn ? "This room needs you to sign in: your sign-in was not accepted (it may have expired). Sign in again, then reload." : "This room needs you to sign in.";
  }
  if (code !== "forbidden") return undefined;
  if (reason === "kicked") return "You were removed from this room.";
  if (reason === "banned") return "You are banned from this room.";
  return "You are not allowed in this room.";
}

// The server API under /api (PROTOCOL.md, "Server API"): for the app's backend, behind
// `Authorization: Bearer <CHAT_API_KEY>`. Messages go through the hub's group commit like a
// member's; moderation is written to the store first, then applied to live sockets on every node
// (Hub.moderate). Logs name the route, the room and the status: never a key, a token or a text.
import { Elysia, status as statusOf } from "elysia";
import { createApiKeyCheck } from "../auth/api-key";
import type { Logger } from "../log";
import { BanBody, BanList, IssuedTokenAnswer, KickAnswer, KickBody, MemberList, PostedMessage, PostMessageBody, RoomSettingsAnswer, RoomSettingsBody, TokenBody } from "../protocol/api";
import { isMessageText, isRoomName, isWellFormed, LIMITS, normalizeName } from "../protocol/limits";
import { z } from "../protocol/zod";
import type { Hub } from "../rooms/hub";
import { isUserId } from "../rooms/identity";
import type { AccessStore, RoomSettings } from "../rooms/ports";

export interface ApiOptions {
  /** CHAT_API_KEY: several for rotation; none, and every /api route answers 404. */
  keys: readonly string[];
  hub: Hub;
  access?: AccessStore;
  /** CHAT_AUTH_SECRET and the server's issuer/audience, for POST /api/tokens (404 without a secret). */
  tokens?: { secret?: string; issuer?: string; audience?: string };
  log: Logger;
  events?: ApiEvents;
  now: () => number;
}

export interface ApiEvents {
  /** An API call answered (route: method and pattern, e.g. "POST /api/rooms/:room/kick"). */
  request(route: string, status: number): void;
  kicked(closed: number): void;
  banned(): void;
}

const BAD_ROOM = "bad room name: 1-64 characters of A-Z a-z 0-9 _ - .";
const TITLE_MAX = 200;
const REASON_MAX = 500;
const text = z.string();

/** A refusal that ends the request before its body is read or validated (no key, wrong key). */
const refusal = (code: 401 | 404, body: string) => statusOf(code, body);

export function serverApi(options: ApiOptions) {
  const { hub, access, log, now } = options;
  const configured = options.keys.some((key) => key.length > 0);
  const keyMatches = createApiKeyCheck(options.keys);
  const events = options.events;
  const routeOf = (request: Request, route: string) => `${request.method} ${route}`;

  /** Calls answered by a refusal of the key: counted when refused, not again after the response. */
  const refused = new WeakSet<Request>();
  /**
   * The key, from the header only: one in the query string is ignored, so such a call is a 401
   * like any other without a key. Undefined when the call may go on.
   */
  const refusalFor = (request: Request, route: string) => {
    if (configured && keyMatches(request.headers.get("authorization"))) return undefined;
    const status = configured ? 401 : 404;
    if (!refused.has(request)) {
      refused.add(request);
      events?.request(routeOf(request, route), status);
      if (configured) log.info("api refused", { route: routeOf(request, route), status });
    }
    return configured ? refusal(401, "the server API needs Authorization: Bearer <CHAT_API_KEY>") : refusal(404, "not found");
  };
  /** Before validation and the handler; a body that failed to parse is answered by `bodyError`, which asks first too. */
  const authorize = (request: Request, route: string) => {
    const refusal = refusalFor(request, route);
    if (refusal) throw refusal;
  };
  const needAccess = () => {
    if (!access) throw statusOf(501, "this store keeps no room settings");
    return access;
  };
  const room = (value: string) => {
    if (!isRoomName(value)) throw statusOf(400, BAD_ROOM);
    return value;
  };
  const settingsOf = (name: string, settings: RoomSettings) => (settings.title === undefined ? { room: name, private: settings.private } : { room: name, private: settings.private, title: settings.title });
  // Elysia's own refusals of a body: a wrong type, or no JSON at all, in words.
  const bodyError =
    (what: string) =>
    ({ code, request, route }: { code: unknown; request: Request; route: string }) => {
      // Elysia parses the body before any hook can refuse the call: no key still answers 401/404.
      const refused = refusalFor(request, route);
      if (refused) return refused;
      if (code === "VALIDATION") return statusOf(400, `bad body: ${what} (JSON, with content-type: application/json)`);
      if (code === "PARSE") return statusOf(400, "the body is one JSON object");
    };

  return new Elysia({ name: "server-api", prefix: "/api" })
    .onTransform(({ request, route }) => authorize(request, route))
    .onAfterResponse(({ request, route, set, params }) => {
      // An exception here is thrown after the response, outside any handler: it ends the process.
      try {
        if (refused.has(request)) return;
        const status = typeof set.status === "number" ? set.status : 200;
        events?.request(routeOf(request, route), status);
        // Reads at debug, changes at info; the room (a valid name) and nothing of the body.
        const room = (params as { room?: string } | undefined)?.room;
        log[status >= 500 ? "warn" : request.method === "GET" ? "debug" : "info"]("api", { route: routeOf(request, route), status, ...(room !== undefined && isRoomName(room) && { room }) });
      } catch {}
    })
    .post(
      "/rooms/:room/messages",
      async ({ params, body, status }) => {
        const name = normalizeName(body.name);
        if (name === undefined) return status(400, "name: 1-32 characters, no control, invisible or look-alike characters");
        const { message, userId, clientId } = body;
        if (message.length < 1 || message.length > LIMITS.message || !isMessageText(message)) {
          return status(400, `message: 1-${LIMITS.message} characters of well-formed text, no control characters but tab and line feed`);
        }
        if (userId !== undefined && !isUserId(userId)) return status(400, "userId: 1-128 characters, no control characters");
        if (clientId !== undefined && (clientId.length < 1 || clientId.length > LIMITS.clientId || !isWellFormed(clientId))) {
          return status(400, `clientId: 1-${LIMITS.clientId} characters of well-formed text`);
        }
        const draft = { room: room(params.room), name, message, ...(userId !== undefined && { userId }), ...(clientId !== undefined && { clientId }) };
        let appended;
        try {
          appended = await hub.post(draft);
        } catch {
          return status(503, "the message could not be stored; nothing was sent, try again");
        }
        // A retry of a stored one (same clientId and name): that message again, stored once.
        return appended.fresh ? status(201, { message: appended.message }) : { message: appended.message };
      },
      {
        body: PostMessageBody,
        response: { 200: PostedMessage, 201: PostedMessage, 400: text, 503: text },
        error: bodyError("{ name, message, userId?, clientId? }, all strings"),
      },
    )
    .get(
      "/rooms/:room",
      async ({ params }) => {
        const name = room(params.room);
        return settingsOf(name, await needAccess().roomSettings(name));
      },
      { response: { 200: RoomSettingsAnswer, 400: text } },
    )
    .put(
      "/rooms/:room",
      async ({ params, body, status }) => {
        const name = room(params.room);
        const { title } = body;
        if (typeof title === "string" && (title.length < 1 || title.length > TITLE_MAX || !isMessageText(title) || title.includes("\n"))) {
          return status(400, `title: 1-${TITLE_MAX} characters on one line (null removes it)`);
        }
        const change = { ...(body.private !== undefined && { private: body.private }), ...(title !== undefined && { title }) };
        const settings = await needAccess().setRoomSettings(name, change);
        // Members the new settings leave out are closed, on every node.
        await hub.moderate({ kind: "settings", room: name });
        return settingsOf(name, settings);
      },
      {
        body: RoomSettingsBody,
        response: { 200: RoomSettingsAnswer, 400: text },
        error: bodyError("{ private?: boolean, title?: string | null }"),
      },
    )
    .get("/rooms/:room/members", async ({ params }) => ({ members: await hub.memberList(room(params.room)) }), { response: { 200: MemberList, 400: text } })
    .post(
      "/rooms/:room/kick",
      async ({ params, body, status }) => {
        const name = room(params.room);
        const { userId } = body;
        const shown = body.name === undefined ? undefined : normalizeName(body.name);
        if ((userId === undefined) === (body.name === undefined)) return status(400, "give either userId or name");
        if (userId !== undefined && !isUserId(userId)) return status(400, "userId: 1-128 characters, no control characters");
        if (body.name !== undefined && shown === undefined) return status(400, "name: 1-32 characters, no control, invisible or look-alike characters");
        const closed = await hub.moderate(userId !== undefined ? { kind: "kick", room: name, userId } : { kind: "kick", room: name, name: shown! });
        events?.kicked(closed);
        return { closed };
      },
      {
        body: KickBody,
        response: { 200: KickAnswer, 400: text },
        error: bodyError("{ userId: string } or { name: string }"),
      },
    )
    .put(
      "/rooms/:room/bans/:userId",
      async ({ params, body, status }) => {
        const name = room(params.room);
        const { userId } = params;
        if (!isUserId(userId)) return status(400, "userId: 1-128 characters, no control characters");
        const { reason, until } = body ?? {};
        if (reason !== undefined && (reason.length > REASON_MAX || !isMessageText(reason))) return status(400, `reason: up to ${REASON_MAX} characters of well-formed text`);
        if (until !== undefined && (!Number.isSafeInteger(until) || until <= now())) return status(400, "until: a whole number of ms since the epoch, in the future");
        await needAccess().ban(name, userId, { ...(reason !== undefined && { reason }), ...(until !== undefined && { until }) }, now());
        events?.banned();
        await hub.moderate({ kind: "ban", room: name, userId });
        return status(204, undefined);
      },
      {
        body: BanBody,
        response: { 204: z.undefined(), 400: text },
        error: bodyError("{ reason?: string, until?: number (ms since the epoch) }"),
      },
    )
    .delete(
      "/rooms/:room/bans/:userId",
      async ({ params, status }) => {
        const name = room(params.room);
        const { userId } = params;
        if (!isUserId(userId)) return status(400, "userId: 1-128 characters, no control characters");
        await needAccess().unban(name, userId);
        await hub.moderate({ kind: "unban", room: name, userId });
        return status(204, undefined);
      },
      { response: { 204: z.undefined(), 400: text } },
    )
    .get(
      "/rooms/:room/bans",
      async ({ params }) => {
        const bans = await needAccess().bans(room(params.room), now());
        return { bans: bans.map(({ userId, reason, until, createdAt }) => ({ userId, ...(reason !== undefined && { reason }), ...(until !== undefined && { until }), createdAt })) };
      },
      { response: { 200: BanList, 400: text } },
    )
    .post(
      "/tokens",
      async ({ body, status }) => {
        const { secret, issuer, audience } = options.tokens ?? {};
        if (secret === undefined) return status(404, "no CHAT_AUTH_SECRET: this server signs no tokens");
        // jose is loaded by the first call, not at start-up.
        const { signToken, InvalidTokenRequest } = await import("../auth/sign");
        try {
          return await signToken(body, secret, { issuer, audience, now: now() });
        } catch (error) {
          if (error instanceof InvalidTokenRequest) return status(400, error.message);
          throw error;
        }
      },
      {
        body: TokenBody,
        response: { 200: IssuedTokenAnswer, 400: text, 404: text },
        error: bodyError("{ sub: string, name?: string, rooms?: string[], ttlSeconds?: number }"),
      },
    );
}

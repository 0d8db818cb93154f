// A TypeScript app using chat-server the way the README shows (typechecked by `npm test`).
import { treaty } from "@elysiajs/eden";
import type { App } from "chat-server/app";
import { connect } from "chat-server/client";
import WebSocket from "ws"; // Node 20 only: browsers and Bun have a global WebSocket

const url = "http://localhost:3000";

// Typed REST: paths, parameters and answers come from the server's routes.
const server = treaty<App>(url);
const { data: list } = await server.rooms.get({ query: { limit: 50 } }); // `after: list.next` pages on
for (const { room, online } of list?.rooms ?? []) console.log(room, online);
const { data: page } = await server.rooms({ room: "lobby" }).messages.get({ query: { limit: 20 } });
for (const m of page?.messages ?? []) console.log(m.id, m.name, m.message);

// The server API, from your app's backend only (it holds CHAT_API_KEY): typed the same way.
const key = process.env.CHAT_API_KEY;
const auth = { headers: { authorization: `Bearer ${key}` } };
const { data: posted, status } = await server.api.rooms({ room: "lobby" }).messages.post({ name: "deploy-bot", message: "v2 is live", clientId: "deploy-42" }, auth);
if (posted) console.log(status === 201 ? "posted" : "posted before", posted.message.id);
const { data: kicked } = await server.api.rooms({ room: "lobby" }).kick.post({ name: "spammer" }, auth);
console.log("closed", kicked?.closed);

// The client: joins, reconnects with backoff, resumes where it left off, re-sends unacked messages.
// `token` (a verified user): your backend's JWT for the user, asked for again before every connect.
const token = () => fetch("https://app.example/chat-token").then((res) => res.text());
const chat = connect({ url, room: "lobby", name: "bot", WebSocket, token });
chat.on("state", (state) => console.log("connection:", state));
chat.on("error", (e) => console.log(e.code, e.reason ?? e.message)); // e.g. `forbidden` `kicked`: stopped
chat.on("message", (m) => console.log(`${m.name}: ${m.message}`));
const stored = await chat.send("hello"); // resolves once the server has stored it
console.log("stored as", stored.id);
chat.close();

// Or Eden's own typed room socket: frames typed from the protocol schemas.
const socket = server.rooms({ room: "lobby" }).ws.subscribe();
socket.on("open", () => socket.send({ type: "join", name: "bot" }));
socket.subscribe(({ data }) => {
  if (data.type === "message") console.log(data.name, data.message);
});

// Proofs that the exported types are real (not `any`): each line below must fail to typecheck.
import { treaty } from "@elysiajs/eden";
import type { App } from "chat-server/app";
import { connect, type ChatError } from "chat-server/client";
import { LIMITS, type Message } from "chat-server/protocol";

const server = treaty<App>("http://localhost:3000");
// @ts-expect-error: no such route
void server.nope.get();
// @ts-expect-error: a room is given by name
void server.rooms(42);
const socket = server.rooms({ room: "lobby" }).ws.subscribe();
// @ts-expect-error: not a frame of the protocol
socket.send({ type: "jion", name: "x" });
socket.subscribe(({ data }) => {
  // @ts-expect-error: server frames have no such type
  if (data.type === "pong") return;
});
// @ts-expect-error: the cursor is the string `next` of an earlier page
void server.rooms.get({ query: { after: 5 } });
const { data } = await server.rooms.get();
// @ts-expect-error: online is a number
const online: string = data!.rooms[0]!.online;

const chat = connect({ url: "http://localhost:3000", room: "lobby", name: "x" });
// @ts-expect-error: no such event
chat.on("typing", () => {});
chat.on("error", (frame) => {
  const code: string = frame.code;
  // @ts-expect-error: error frames have no id
  void frame.id;
  void code;
});
const sent: Message = await chat.send("hi");
// @ts-expect-error: the ack is a Message
void sent.clientId;
chat.send("hi").catch((error: ChatError) => error.retryAfter satisfies number | undefined);
// @ts-expect-error: connect needs a name
connect({ url: "http://localhost:3000", room: "lobby" });
void online;
void (LIMITS.message satisfies 2000);

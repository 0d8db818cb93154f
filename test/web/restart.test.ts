// A server restart under two open pages: both reconnect by themselves and resume from the last
// id they saw, so every message (sent before, during and after the restart) shows once, in order.
import { expect, test } from "bun:test";
import { Client } from "../helpers";
import { freePort, join, online, openPage, pageErrors, say, scratchDir, serve, texts, useBrowser, waitText } from "./browser";

useBrowser();

test("the server restarts: both pages reconnect and resume with no gap and no duplicate", async () => {
  const cwd = scratchDir(); // same folder, so the same ./chat.db
  const port = await freePort(); // same port, so the pages find the new process
  const start = () => serve({ cwd, args: ["--port", String(port)], env: { CHAT_RATE_LIMIT: "0" } });
  let server = await start();

  const ada = await openPage();
  const bob = await openPage();
  await join(ada, server.base, "ada");
  await join(bob, server.base, "bob");
  await say(ada, "before 1");
  await say(bob, "before 2");
  await waitText(ada, "before 2");
  await waitText(bob, "before 2");

  server.proc.kill("SIGTERM"); // graceful: sockets closed with 1001
  expect(await server.proc.exited).toBe(0);
  await ada.waitForSelector('#conn[data-state="reconnecting"]');
  await bob.waitForSelector('#conn[data-state="reconnecting"]');
  expect(await ada.textContent("#conn")).toBe("Reconnecting…");

  // Typed while the server is down: shown as pending, sent once the page is back.
  await say(ada, "during restart");
  await ada.waitForSelector('#pending .msg:has-text("during restart")');

  server = await start();
  // Others talk right away, possibly before the pages are back: the resume must bring these.
  const carol = await Client.joined(server.wsUrl("lobby"), "carol");
  for (const i of [1, 2, 3]) {
    carol.send({ type: "message", message: `after ${i}`, clientId: `c${i}` });
    await carol.next("message", (f) => f.clientId === `c${i}`);
  }
  await online(ada);
  await online(bob);
  // Presence comes back with the new join (ada, bob, carol).
  await ada.waitForFunction(() => document.querySelectorAll("#online .person").length === 3);
  await say(bob, "after 4");

  const expected = ["before 1", "before 2", "during restart", "after 1", "after 2", "after 3", "after 4"];
  for (const page of [ada, bob]) for (const text of expected) await waitText(page, text);
  await ada.waitForSelector("#pending .msg", { state: "detached" });

  // Each page shows exactly what the server stored, in the server's order.
  const res = await fetch(`${server.base}/rooms/lobby/messages`);
  const stored = ((await res.json()) as { messages: { message: string }[] }).messages.map((m) => m.message);
  expect(stored.slice().sort()).toEqual(expected.slice().sort());
  expect(await texts(ada)).toEqual(stored);
  expect(await texts(bob)).toEqual(stored);
  // And the ids on the page are strictly increasing (one element per message id).
  for (const page of [ada, bob]) {
    const ids = await page.$$eval("#messages .msg", (items) => items.map((li) => Number((li as HTMLElement).dataset.id)));
    expect(ids).toEqual(ids.slice().sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(ids.length);
  }
  expect(pageErrors).toEqual([]);
}, 60_000);

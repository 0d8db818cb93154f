// The page for verified users, in real Chromium against the compiled binary: a token in the URL
// fragment is used and taken out of the address, and the verified mark is an element no
// anonymous name can imitate. Refusals in words: refusals.test.ts (and access.test.ts, the wording).
import { expect, test } from "bun:test";
import { SignJWT } from "jose";
import { Client } from "../helpers";
import { online, openPage, pageErrors, serve, useBrowser, waitText } from "./browser";

useBrowser();

const SECRET = "a-test-secret-of-at-least-32-bytes-0123456789";

/** A token as an app's backend signs it (HS256 with the server's secret). */
const sign = (claims: { sub: string; name?: string }) =>
  new SignJWT(claims.name === undefined ? {} : { name: claims.name })
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(claims.sub)
    .setExpirationTime("1h")
    .sign(new TextEncoder().encode(SECRET));

test("#token= signs the page in: the token goes in the join, leaves the address, and survives a reload in this tab only", async () => {
  const server = await serve({ env: { CHAT_AUTH_SECRET: SECRET } });
  const token = await sign({ sub: "u-ada", name: "Ada Lovelace" });
  const page = await openPage();
  await page.context().grantPermissions(["clipboard-read", "clipboard-write"], { origin: server.base });
  const joins: { type: "join"; name: string; token?: string }[] = [];
  page.on("websocket", (ws) =>
    ws.on("framesent", ({ payload }) => {
      const frame = JSON.parse(String(payload));
      if (frame.type === "join") joins.push(frame);
    }),
  );

  await page.goto(`${server.base}/#side-room&token=${token}`);
  await online(page);
  // No join screen: the token's name is the user's, and there is no other name to change to.
  expect(await page.locator("#me").textContent()).toBe("Ada Lovelace");
  expect(await page.locator("#rename").isHidden()).toBe(true);
  expect(await page.locator("#room-title").textContent()).toBe("#side-room");
  expect(joins).toEqual([{ type: "join", name: "Ada Lovelace", token }]);
  // Gone from the address and from this history entry; the room stayed.
  expect(page.url()).not.toContain(token);
  expect(page.url()).not.toContain("token");
  expect(page.url()).toContain("side-room");
  // Nor in the entry before (the page's own ?room= entry came after it): Back shows no token.
  await page.goBack();
  expect(page.url()).toBe(`${server.base}/#side-room`);
  expect(await page.locator("#room-title").textContent()).toBe("#side-room");
  expect(await page.evaluate(() => localStorage.getItem("chat.token") ?? JSON.stringify(localStorage).includes("eyJ"))).toBe(false);
  // The Invite link holds the room only.
  await page.getByRole("button", { name: "Invite" }).click();
  await page.waitForSelector('#invite:has-text("Link copied")');
  const invite = await page.evaluate(() => navigator.clipboard.readText());
  expect(invite).toBe(`${server.base}/?room=side-room`);

  // A reload keeps the sign-in (sessionStorage): the same token in the next join.
  await page.reload();
  await online(page);
  expect(await page.locator("#me").textContent()).toBe("Ada Lovelace");
  expect(joins).toHaveLength(2);
  expect(joins[1]).toMatchObject({ name: "Ada Lovelace", token });
  expect(page.url()).not.toContain("token");

  // A new token in the same tab (the app signs in someone else): used at once, taken out again.
  const grace = await sign({ sub: "u-grace", name: "Grace Hopper" });
  await page.evaluate((t) => (location.hash = `side-room&token=${t}`), grace);
  await page.waitForSelector('#me:has-text("Grace Hopper")');
  await online(page);
  expect(joins).toHaveLength(3); // one join for the change (popstate and hashchange both fire)
  expect(joins.at(-1)).toMatchObject({ name: "Grace Hopper", token: grace });
  expect(page.url()).not.toContain("token");
  expect(await page.evaluate(() => sessionStorage.getItem("chat.token"))).toBe(grace);

  // Another tab of the same browser is not signed in: it asks for a name, and joins without a token.
  const other = await page.context().newPage();
  await other.goto(`${server.base}/?room=side-room`);
  await other.getByLabel("Your name").waitFor();
  expect(await other.evaluate(() => sessionStorage.getItem("chat.token"))).toBeNull();
  expect(pageErrors).toEqual([]);
});

test("the verified mark: on a verified sender only, an element outside the name's text that no anonymous name imitates", async () => {
  const server = await serve({ env: { CHAT_AUTH_SECRET: SECRET, CHAT_RATE_LIMIT: "0" } });
  // The first "ada" joins with a token (verified); the others are anonymous names. The page
  // joins after them: the marks come with the history (test/web/refusals.test.ts: live).
  const senders = ["ada", "ada", "ada ✓", "ada verified", "✓", "✅ verified"];
  for (const [i, name] of senders.entries()) {
    const token = i === 0 ? { token: await sign({ sub: "u-ada", name: "ada" }) } : {};
    const client = await Client.joined(server.wsUrl("lobby"), name, token);
    client.send({ type: "message", message: `message ${i} from ${name}`, clientId: `c${i}` });
    const stored = await client.next("message", (f) => f.clientId === `c${i}`);
    expect(stored.userId).toBe(i === 0 ? "u-ada" : undefined);
    client.close();
  }

  const page = await openPage();
  await page.goto(`${server.base}/?room=lobby`);
  await page.getByLabel("Your name").fill("reader");
  await page.getByRole("button", { name: "Join" }).click();
  await online(page);
  await waitText(page, "message 5 from ✅ verified");

  const shown = await page.$$eval("#messages .msg", (items) =>
    items.map((li) => {
      const name = li.querySelector(".name")!;
      const marks = li.querySelectorAll(".verified");
      return {
        name: name.textContent,
        // The name's own text is one text node, the name and nothing else.
        text: [...name.childNodes].filter((n) => n.nodeType === Node.TEXT_NODE).map((n) => n.textContent),
        marks: marks.length,
        markText: [...marks].map((m) => m.textContent),
        markLabel: [...marks].map((m) => [m.getAttribute("role"), m.getAttribute("aria-label")]),
        markIsOutsideText: [...marks].every((m) => m.parentElement === name && m.childNodes.length === 0),
        cont: li.classList.contains("cont"),
      };
    }),
  );
  expect(shown.map((s) => [s.name, s.marks])).toEqual([
    ["ada", 1],
    ["ada", 0],
    ["ada ✓", 0],
    ["ada verified", 0],
    ["✓", 0],
    ["✅ verified", 0],
  ]);
  expect(shown.map((s) => s.text)).toEqual(senders.map((name) => [name]));
  expect(shown[0]).toMatchObject({ markText: [""], markLabel: [["img", "verified"]], markIsOutsideText: true });
  // The anonymous "ada" right after the verified one is not shown as her follow-up (whose name
  // and mark would be hidden): it starts its own group, name shown, without the mark.
  expect(shown[1]!.cont).toBe(false);
  // One mark on the page, and it is visible: a drawn disc, not a character of any name.
  expect(await page.getByRole("img", { name: "verified" }).count()).toBe(1);
  const box = (await page.locator("#messages .verified").boundingBox())!;
  expect(box.width).toBeGreaterThan(5);
  expect(await page.locator("#messages .verified").evaluate((m) => getComputedStyle(m).backgroundColor)).not.toBe("rgba(0, 0, 0, 0)");
  expect(pageErrors).toEqual([]);
});

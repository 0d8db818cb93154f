// OpenAPI docs of the REST routes, served by the compiled binary run from an empty folder.
import { expect, test } from "bun:test";
import { startBinary } from "../helpers";

test("the binary serves /openapi (page) and /openapi/json (the REST routes only)", async () => {
  const server = await startBinary();
  const page = await fetch(`${server.base}/openapi`);
  expect(page.status).toBe(200);
  expect(page.headers.get("content-type")).toContain("text/html");
  expect(await page.text()).toContain("openapi/json");

  const spec = await (await fetch(`${server.base}/openapi/json`)).json();
  expect(spec.info.title).toBe("chat-server");
  const paths = Object.keys(spec.paths);
  expect(paths).toEqual(expect.arrayContaining(["/health", "/rooms", "/rooms/{room}/messages"]));
  // Neither the page nor the socket (nor its 426 twin) clutter the REST docs.
  expect(paths).not.toContain("/");
  expect(paths.filter((p) => p.includes("ws") || p.includes("openapi"))).toEqual([]);
  // Response bodies are documented from the zod schemas.
  const messages = spec.paths["/rooms/{room}/messages"].get.responses["200"].content["application/json"].schema;
  expect(messages.properties.messages.items.required).toEqual(["id", "room", "name", "message", "timestamp"]);

  // The page at / is still the page (not the HTML bundle's manifest).
  const home = await fetch(`${server.base}/`);
  expect(home.headers.get("content-type")).toContain("text/html");
});

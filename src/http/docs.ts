// The REST routes' OpenAPI docs: GET /openapi (Scalar's page) and GET /openapi/json, both made
// by @elysiajs/openapi's own functions. Not its plugin: `.use(openapi())` loads the package and
// merges a plugin while the app is built, ~2 ms of a ~45 ms start-up. Here the package is loaded
// by the first request for the docs, and what it makes is kept.
import type { AnyElysia } from "elysia";
import { z } from "../protocol/zod";

const INFO = {
  title: "chat-server",
  version: "0.1.0",
  description: "REST routes of the chat server; the room socket is GET /rooms/:room/ws (see PROTOCOL.md)",
};
const OPENAPI_VERSION = "3.1.2";
/** Not REST: the page, the room socket, and the docs themselves. */
const UNDOCUMENTED = ["/", "/rooms/:room/ws", "/openapi", "/openapi/json"];
/** Scalar's page as the plugin configures it by default. */
const SCALAR = {
  url: "openapi/json",
  version: "latest",
  cdn: "https://cdn.jsdelivr.net/npm/@scalar/api-reference@latest/dist/browser/standalone.min.js",
  _integration: "elysiajs",
};

/** Adds the docs routes to an app; they describe whatever routes it has when first asked. */
export function docs<App extends AnyElysia>(app: App) {
  let spec: object | undefined;
  let page: string | undefined;
  const hidden = { detail: { hide: true } };
  return app
    .get(
      "/openapi/json",
      async () => {
        if (spec) return spec;
        const { toOpenAPISchema } = await import("@elysiajs/openapi");
        const { paths, components } = toOpenAPISchema(app, { paths: UNDOCUMENTED }, undefined, { zod: z.toJSONSchema }, OPENAPI_VERSION);
        return (spec = { openapi: OPENAPI_VERSION, info: INFO, paths, components });
      },
      hidden,
    )
    .get(
      "/openapi",
      async () => {
        if (!page) {
          const { ScalarRender } = await import("@elysiajs/openapi/scalar");
          page = ScalarRender(INFO, SCALAR as never);
        }
        return new Response(page, { headers: { "content-type": "text/html; charset=utf8" } });
      },
      hidden,
    );
}

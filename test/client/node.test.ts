// The typed client under Node 20 (with the `ws` package as WebSocket) against the compiled binary,
// through a server restart. Node cannot run TS: the scenario (with the client) is bundled to JS
// first, then a small .mjs runs it and talks to this test over stdin/stdout, one JSON per line.
import { expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { api } from "../../src/client/index";
import { defer, startBinary, tempDir } from "../helpers";
import { expectWholeConversation, freePort } from "./check";

const ROOT = join(import.meta.dir, "..", "..");

const RUNNER = `
import { createInterface } from "node:readline";
import { createRequire } from "node:module";
const WebSocket = createRequire(process.env.PROJECT + "/package.json")("ws");
const { conversation } = await import("./scenario.js");
if (globalThis.WebSocket) throw new Error("this Node has a global WebSocket: the test would not prove injection");
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const ask = async (what) => {
  console.log(JSON.stringify({ do: what }));
  const { value } = await lines.next();
  if (value !== what + "ed") throw new Error("unexpected answer " + value);
};
const result = await conversation({
  url: process.argv[2], room: "node", WebSocket,
  crash: () => ask("crash"), restart: () => ask("restart"),
});
console.log(JSON.stringify({ result, node: process.version }));
process.exit(0);
`;

test("client under Node 20 (ws): server killed and restarted mid-conversation, nothing lost or doubled", async () => {
  const dir = tempDir();
  const built = Bun.spawnSync([process.execPath, "build", "--target=node", "--format=esm", "--outdir", dir, join(import.meta.dir, "scenario.ts")], { cwd: ROOT, stderr: "pipe" });
  expect(built.exitCode, built.stderr.toString()).toBe(0);
  writeFileSync(join(dir, "run.mjs"), RUNNER);

  const cwd = tempDir();
  const args = ["--port", String(await freePort())];
  const env = { CHAT_RATE_LIMIT: "0" };
  let server = await startBinary({ cwd, env, args });
  const node = Bun.spawn(["node", join(dir, "run.mjs"), server.base], { cwd: dir, env: { ...process.env, PROJECT: ROOT }, stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  defer(() => node.kill("SIGKILL"));

  let last: any;
  const decoder = new TextDecoder();
  let buffered = "";
  for await (const chunk of node.stdout) {
    buffered += decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = buffered.indexOf("\n")) >= 0) {
      const line = JSON.parse(buffered.slice(0, nl));
      buffered = buffered.slice(nl + 1);
      if (line.do === "crash") {
        server.proc.kill("SIGKILL");
        await server.proc.exited;
      } else if (line.do === "restart") {
        server = await startBinary({ cwd, env, args });
      }
      if (line.do) node.stdin.write(`${line.do}ed\n`);
      else last = line;
    }
  }
  const code = await node.exited;
  expect(code, await new Response(node.stderr).text()).toBe(0);
  expect(last.node).toMatch(/^v20\./);
  expect(last.result.states.ann).toContain("reconnecting");
  const { data } = await api(server.base).rooms({ room: "node" }).messages.get({ query: { limit: 200 } });
  expectWholeConversation(last.result, data!.messages, 10);
}, 30_000);

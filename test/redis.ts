// A real redis-server of the test's own: a free loopback port, a temp folder, no persistence,
// stopped by pid after the test. Ready means it said so on stdout, not that some time passed.
import { RedisClient, type Subprocess } from "bun";
import { tempDir } from "./helpers";
import { defer } from "./setup";
import { freePort } from "./ports";

export type TestRedis = Awaited<ReturnType<typeof startRedis>>;

export async function startRedis() {
  if (!Bun.which("redis-server")) throw new Error("redis-server is not installed (Debian: apt-get install redis-server; .ci/run does it)");
  const dir = tempDir();
  let port = 0;
  let server: Subprocess<"ignore", "pipe", "inherit"> | undefined;

  async function start() {
    for (let attempt = 1; ; attempt++) {
      if (!port || attempt > 1) port = freePort();
      // Same port on a restart: the nodes' clients reconnect to where it was.
      server = Bun.spawn(["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir], {
        stdout: "pipe",
        stderr: "inherit",
      });
      if (await saysReady(server)) return;
      if (attempt === 3) throw new Error(`redis-server did not start on port ${port}`);
    }
  }

  async function stop() {
    if (!server) return;
    const stopping = server;
    server = undefined;
    stopping.kill("SIGTERM");
    stopping.kill("SIGCONT"); // a paused server would never act on it
    await stopping.exited;
  }

  await start();
  defer(stop);
  const url = () => `redis://127.0.0.1:${port}`;
  return {
    get url() {
      return url();
    },
    start,
    stop,
    /** SIGSTOP: connections stay open, nothing is read (a hung server). */
    pause: () => server!.kill("SIGSTOP"),
    resume: () => server!.kill("SIGCONT"),
    /** One command on a connection of its own (a subscribed one could not send it). */
    async command(name: string, args: string[]) {
      const admin = new RedisClient(url(), { autoReconnect: false });
      try {
        return await admin.send(name, args);
      } finally {
        admin.close();
      }
    },
  };
}

/** A port nothing listens on right now (a race with other processes, retried by the caller). */

/** Reads the server's log until it is ready (true) or it exits, e.g. on a busy port (false). */
async function saysReady(server: Subprocess<"ignore", "pipe", "inherit">): Promise<boolean> {
  const reader = server.stdout.getReader();
  const decoder = new TextDecoder();
  let log = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return false;
    log += decoder.decode(value, { stream: true });
    if (log.includes("Ready to accept connections")) break;
  }
  // Keep reading, so the server never blocks on a full pipe.
  void (async () => {
    while (!(await reader.read()).done);
  })();
  return true;
}

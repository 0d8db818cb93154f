// A PostgreSQL of the test file's own: `initdb` in a temp folder, the server on a free loopback
// port (fsync off: nothing here needs to survive a power cut), stopped by its pid after the file.
// One server per file (a start costs ~1.5 s); each test takes a database of its own from it.
// PostgreSQL missing is a failure, never a skip: `.ci/run` installs it.
import { afterAll, beforeAll } from "bun:test";
import { SQL } from "bun";
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./ports";

/** PostgreSQL's server binaries: on PATH, or Debian's /usr/lib/postgresql/<version>/bin. */
function binaries(): string {
  const onPath = Bun.which("initdb");
  if (onPath && Bun.which("postgres")) return join(onPath, "..");
  const root = "/usr/lib/postgresql";
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, "bin", "initdb"))) : [];
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  if (!newest) throw new Error("PostgreSQL is not installed (no initdb on PATH nor in /usr/lib/postgresql): run .ci/run, or apt-get install postgresql");
  return join(root, newest, "bin");
}

/**
 * A PostgreSQL program's command line. PostgreSQL refuses to run as root: as root, it runs as the
 * `postgres` user. setpriv execs the program itself (runuser and su fork and wait), so the pid we
 * get is the server's, and it has the server stopped if this process dies without cleaning up.
 */
function asServerUser(argv: string[]): string[] {
  const root = process.getuid?.() === 0;
  if (!Bun.which("setpriv")) {
    if (root) throw new Error("running the tests as root needs setpriv (util-linux) to start PostgreSQL as the postgres user");
    return argv;
  }
  return ["setpriv", ...(root ? ["--reuid=postgres", "--regid=postgres", "--init-groups"] : []), "--pdeathsig", "SIGQUIT", "--", ...argv];
}


export interface Postgres {
  /** postgres://postgres@127.0.0.1:PORT/<database> */
  url(database?: string): string;
  /** A new empty database; its URL. */
  createDatabase(): Promise<string>;
  /** The server's pid (tests that kill it). */
  readonly pid: number;
  stop(): Promise<void>;
}

let databases = 0;

export async function startPostgres(): Promise<Postgres> {
  const bin = binaries();
  const dir = mkdtempSync(join(tmpdir(), "chat-pg-"));
  const data = join(dir, "data");
  if (process.getuid?.() === 0) chownSync(dir, Number(Bun.spawnSync(["id", "-u", "postgres"]).stdout.toString().trim()), Number(Bun.spawnSync(["id", "-g", "postgres"]).stdout.toString().trim()));
  const init = Bun.spawnSync(asServerUser([join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"]), { stderr: "pipe", stdout: "pipe" });
  if (init.exitCode !== 0) throw new Error(`initdb failed: ${init.stderr.toString()}`);

  const port = await freePort();
  const server = Bun.spawn(asServerUser([join(bin, "postgres"), "-D", data, "-k", dir, "-h", "127.0.0.1", "-p", String(port), "-F", "-c", "max_connections=200"]), {
    stdout: "ignore",
    stderr: "pipe",
  });
  // Ready when it says so on stderr (or failed when it exits first).
  let log = "";
  const decoder = new TextDecoder();
  const reader = server.stderr.getReader();
  const ready = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`postgres exited before it was ready: ${log}`);
      log += decoder.decode(value);
      if (log.includes("ready to accept connections")) return;
    }
  })();
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`postgres not ready within 20 s: ${log}`)), 20_000).unref());
  try {
    await Promise.race([ready, timeout]);
  } catch (error) {
    server.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  // Keep draining its log, so that a full pipe never blocks it.
  void (async () => {
    for (;;) if ((await reader.read().catch(() => ({ done: true }))).done) return;
  })();

  const url = (database = "postgres") => `postgres://postgres@127.0.0.1:${port}/${database}`;
  const admin = new SQL({ url: url(), max: 1 });
  return {
    url,
    pid: server.pid,
    async createDatabase() {
      const name = `test_${process.pid}_${++databases}`;
      await admin.unsafe(`CREATE DATABASE ${name}`);
      return url(name);
    },
    async stop() {
      await admin.close().catch(() => {});
      server.kill("SIGQUIT"); // immediate shutdown: nothing here is worth a checkpoint
      await server.exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** One PostgreSQL for the calling test file: started before its first test, stopped after its last. */
export function usePostgres(): { readonly server: Postgres } {
  const holder = {} as { server: Postgres };
  beforeAll(async () => {
    holder.server = await startPostgres();
  }, 30_000);
  afterAll(async () => {
    await holder.server?.stop();
  });
  return holder;
}

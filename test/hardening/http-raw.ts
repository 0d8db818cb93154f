// HTTP/1.1 over a raw TCP socket (node:net): a test can then hold a keep-alive connection open,
// pick its source address (127.0.0.2 is another client on loopback), and send any Host header.
import net from "node:net";

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export class HttpConnection {
  private buffer = "";
  private waiters: (() => void)[] = [];
  /** Set once the TCP connection ended (by either side). */
  ended = false;
  readonly closed: Promise<void>;

  private constructor(readonly socket: net.Socket) {
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => {
      this.buffer += chunk;
      this.wake();
    });
    this.closed = new Promise((resolve) =>
      socket.on("close", () => {
        this.ended = true;
        this.wake();
        resolve();
      }),
    );
    socket.on("error", () => {});
  }

  /** Connects to `to` (default 127.0.0.1) from `from` (a loopback address), within 5 s. */
  static async open(port: number, { to = "127.0.0.1", from }: { to?: string; from?: string } = {}): Promise<HttpConnection> {
    const socket = net.connect({ host: to, port, localAddress: from });
    await withTimeout(new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject)), 5000, `connecting to ${to}:${port}`);
    return new HttpConnection(socket);
  }

  /** Sends one request on this connection (kept alive unless a header says otherwise) and reads its answer. */
  async request(path: string, headers: Record<string, string> = {}, timeoutMs = 5000): Promise<RawResponse> {
    const all = { Host: `${this.socket.remoteAddress?.includes(":") ? `[${this.socket.remoteAddress}]` : this.socket.remoteAddress}:${this.socket.remotePort}`, ...headers };
    this.socket.write(`GET ${path} HTTP/1.1\r\n${Object.entries(all).map(([k, v]) => `${k}: ${v}\r\n`).join("")}\r\n`);
    return withTimeout(this.response(), timeoutMs, `the answer to GET ${path}`);
  }

  private async response(): Promise<RawResponse> {
    for (;;) {
      const end = this.buffer.indexOf("\r\n\r\n");
      if (end >= 0) {
        const [statusLine, ...lines] = this.buffer.slice(0, end).split("\r\n");
        const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(":")).toLowerCase(), l.slice(l.indexOf(":") + 1).trim()]));
        const length = Number(headers["content-length"] ?? 0);
        if (this.buffer.length >= end + 4 + length || this.ended) {
          const body = this.buffer.slice(end + 4, end + 4 + length);
          this.buffer = this.buffer.slice(end + 4 + length);
          return { status: Number(statusLine!.split(" ")[1]), headers, body };
        }
      }
      if (this.ended) throw new Error(`connection closed before an answer (got ${JSON.stringify(this.buffer.slice(0, 80))})`);
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  private wake() {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  end() {
    this.socket.destroy();
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms))),
  ]);
}

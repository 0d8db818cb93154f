// A WebSocket client on a raw TCP socket (Bun.connect): it does the handshake itself, so a test
// can make it stop reading (a slow consumer) or stop answering pings (a dead peer), which a
// real WebSocket client never does.
import type { Socket } from "bun";
import { createHash, randomBytes } from "node:crypto";

export interface RawOptions {
  /** Answer server pings with pongs (a live peer). Default true. */
  pong?: boolean;
  /** Keep reading. False: pause the socket after the handshake (the kernel buffers fill up). */
  read?: boolean;
  headers?: Record<string, string>;
}

export class RawClient {
  private buffer = Buffer.alloc(0);
  private upgraded = false;
  private handshake!: { resolve: () => void; reject: (e: Error) => void };
  readonly texts: string[] = [];
  pings = 0;
  /** Set when the TCP connection ended (by either side). */
  ended = false;
  /** The close frame the server sent, if any. */
  closeCode?: number;
  private endWaiters: (() => void)[] = [];
  private frameWaiters: (() => void)[] = [];
  socket!: Socket<undefined>;

  private constructor(private readonly options: RawOptions) {}

  static async connect(url: string, options: RawOptions = {}): Promise<RawClient> {
    const target = new URL(url);
    const client = new RawClient(options);
    const upgraded = new Promise<void>((resolve, reject) => (client.handshake = { resolve, reject }));
    client.socket = await Bun.connect({
      hostname: target.hostname,
      port: Number(target.port),
      socket: {
        data: (_socket, chunk) => client.onData(chunk),
        close: () => client.onEnd(),
        error: () => client.onEnd(),
      },
    });
    const key = randomBytes(16).toString("base64");
    const headers = {
      Host: target.host,
      Upgrade: "websocket",
      Connection: "Upgrade",
      "Sec-WebSocket-Key": key,
      "Sec-WebSocket-Version": "13",
      ...options.headers,
    };
    const request = `GET ${target.pathname} HTTP/1.1\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join("\r\n")}\r\n\r\n`;
    client.socket.write(request);
    client.expectedAccept = createHash("sha1").update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest("base64");
    await withTimeout(upgraded, 5000, "handshake");
    if (options.read === false) client.socket.pause();
    return client;
  }

  private expectedAccept = "";

  private onData(chunk: Buffer) {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : Buffer.from(chunk);
    if (!this.upgraded) {
      const end = this.buffer.indexOf("\r\n\r\n");
      if (end < 0) return;
      const head = this.buffer.subarray(0, end).toString();
      this.buffer = this.buffer.subarray(end + 4);
      if (!head.startsWith("HTTP/1.1 101") || !head.includes(this.expectedAccept)) {
        this.handshake.reject(new Error(`upgrade refused: ${head.split("\r\n")[0]}`));
        return;
      }
      this.upgraded = true;
      this.handshake.resolve();
    }
    this.parseFrames();
  }

  private parseFrames() {
    for (;;) {
      const b = this.buffer;
      if (b.length < 2) return;
      const opcode = b[0]! & 0x0f;
      let length = b[1]! & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (b.length < 4) return;
        length = b.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (b.length < 10) return;
        length = Number(b.readBigUInt64BE(2));
        offset = 10;
      }
      if (b.length < offset + length) return;
      const payload = b.subarray(offset, offset + length);
      this.buffer = b.subarray(offset + length);
      if (opcode === 0x1) this.texts.push(payload.toString());
      else if (opcode === 0x9) {
        this.pings++;
        if (this.options.pong !== false) this.writeFrame(0xa, payload);
      } else if (opcode === 0x8) this.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
      this.wake(this.frameWaiters);
    }
  }

  private onEnd() {
    this.ended = true;
    this.wake(this.endWaiters);
    this.wake(this.frameWaiters);
  }

  private wake(list: (() => void)[]) {
    for (const w of list.splice(0)) w();
  }

  /** Writes one masked frame (clients must mask). */
  writeFrame(opcode: number, payload: Buffer | string) {
    const data = typeof payload === "string" ? Buffer.from(payload) : payload;
    const mask = randomBytes(4);
    const head =
      data.length < 126
        ? Buffer.from([0x80 | opcode, 0x80 | data.length])
        : data.length < 65536
          ? Buffer.from([0x80 | opcode, 0x80 | 126, data.length >> 8, data.length & 0xff])
          : (() => {
              const h = Buffer.alloc(10);
              h[0] = 0x80 | opcode;
              h[1] = 0x80 | 127;
              h.writeBigUInt64BE(BigInt(data.length), 2);
              return h;
            })();
    const masked = Buffer.alloc(data.length);
    for (let i = 0; i < data.length; i++) masked[i] = data[i]! ^ mask[i & 3]!;
    this.socket.write(Buffer.concat([head, mask, masked]));
  }

  send(frame: unknown) {
    this.writeFrame(0x1, typeof frame === "string" ? frame : JSON.stringify(frame));
  }

  /** Waits for a text frame matching the predicate (searching every frame received so far). */
  async waitText(match: (frame: any) => boolean, timeoutMs = 5000): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (const text of this.texts) {
        const frame = JSON.parse(text);
        if (match(frame)) return frame;
      }
      if (this.ended) throw new Error("raw socket ended while waiting for a frame");
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for a frame; got ${this.texts.slice(-3).join(" ")}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.frameWaiters.push(() => (clearTimeout(timer), resolve()));
      });
    }
  }

  async waitEnd(timeoutMs = 5000): Promise<void> {
    if (this.ended) return;
    await withTimeout(new Promise<void>((resolve) => this.endWaiters.push(resolve)), timeoutMs, "the connection to end");
  }

  end() {
    this.socket.end();
  }
}

export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: Timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms))),
  ]);
}

/** Resident set size of this process in MiB. */
export const rssMiB = () => process.memoryUsage.rss() / 1024 / 1024;

/** Waits until the condition holds (polled every 5 ms), failing after the timeout. */
export async function until(condition: () => boolean, timeoutMs = 5000, what = "a condition") {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(5);
  }
}

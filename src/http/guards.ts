// Checks made on the HTTP request: its Host (DNS rebinding), its Origin before a WebSocket
// upgrade (cross-site hijacking), and who sent it (the key every per-client cap counts by).
import type { Server } from "bun";

/**
 * Cross-Site WebSocket Hijacking guard: a browser always sends Origin, so an Origin must be the
 * host the request came to, or be listed. Clients that send no Origin (not browsers) pass.
 */
export function originAllowed(request: Request, allowed: string[]): boolean {
  const origin = request.headers.get("origin");
  if (origin === null) return true;
  if (allowed.includes("*") || allowed.includes(origin)) return true;
  try {
    return new URL(origin).host === request.headers.get("host");
  } catch {
    return false; // "null" (sandboxed frames, file://) or garbage
  }
}

/**
 * The host name of a Host header (or of a --hosts entry), without its port, lower-cased, IPv6
 * literals without brackets, and without a final dot ("example.com." is "example.com" in DNS).
 */
export function hostName(value: string): string {
  let host = value.trim().toLowerCase();
  if (host.startsWith("[")) {
    const end = host.indexOf("]");
    host = end < 0 ? host.slice(1) : host.slice(1, end);
  } else if (host.indexOf(":") === host.lastIndexOf(":")) {
    // One colon: name:port. Two or more: an IPv6 literal without brackets (only in our list).
    host = host.split(":")[0]!;
  }
  return host.endsWith(".") ? host.slice(0, -1) : host;
}

/**
 * DNS rebinding guard: a page on a name the attacker controls, re-pointed at this server's
 * address, is "same origin" for the browser (its Origin and Host agree), so only the Host
 * header tells it apart. With no list every host passes.
 */
export function hostAllowed(request: Request, hosts: ReadonlySet<string>): boolean {
  if (hosts.size === 0) return true;
  const host = request.headers.get("host");
  return host !== null && hosts.has(hostName(host));
}

/**
 * The client's IP. Behind a trusted reverse proxy it is the last X-Forwarded-For entry: the one
 * the proxy itself appended; entries before it come from the client and can be forged.
 */
export function clientAddress(request: Request, server: Server<unknown> | null, trustProxy: boolean): string {
  if (trustProxy) {
    const forwarded = request.headers.get("x-forwarded-for")?.split(",").at(-1)?.trim();
    if (forwarded) return forwarded;
  }
  return server?.requestIP(request)?.address ?? "unknown";
}

/**
 * Who a per-client cap counts an address as: an IPv4 address as it is, an IPv6 address by its
 * /64 (one subscriber or one host gets a whole /64 and can pick any address in it), and an
 * IPv4-mapped IPv6 address (::ffff:1.2.3.4, what a dual-stack listener sees) as its IPv4.
 * Anything that does not parse is its own key.
 */
export function clientKey(address: string): string {
  let ip = address.trim();
  if (ip.startsWith("[") && ip.endsWith("]")) ip = ip.slice(1, -1);
  if (!ip.includes(":")) return ip;
  const hextets = ipv6Hextets(ip.split("%")[0]!); // the zone id (fe80::1%eth0) names a link, not a host
  if (!hextets) return address;
  if (hextets.slice(0, 5).every((h) => h === 0) && hextets[5] === 0xffff) {
    return [hextets[6]! >> 8, hextets[6]! & 0xff, hextets[7]! >> 8, hextets[7]! & 0xff].join(".");
  }
  return `${hextets.slice(0, 4).map((h) => h.toString(16)).join(":")}::/64`;
}

/** The eight 16-bit groups of an IPv6 address ("::" and a trailing dotted IPv4 expanded), or undefined. */
function ipv6Hextets(ip: string): number[] | undefined {
  const halves = ip.split("::");
  if (halves.length > 2) return undefined;
  const groups = (half: string | undefined) => (half ? half.split(":") : []);
  const parts = [groups(halves[0]), groups(halves[1])].map((list) => {
    const last = list.at(-1);
    if (last?.includes(".")) {
      const v4 = last.split(".");
      if (v4.length !== 4 || !v4.every((o) => /^\d{1,3}$/.test(o) && Number(o) <= 255)) return undefined;
      const [a, b, c, d] = v4.map(Number) as [number, number, number, number];
      return [...list.slice(0, -1), ((a << 8) | b).toString(16), ((c << 8) | d).toString(16)];
    }
    return list;
  });
  if (!parts[0] || !parts[1]) return undefined;
  const [head, tail] = parts as [string[], string[]];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const all = [...head, ...Array<string>(missing).fill("0"), ...tail];
  if (!all.every((h) => /^[0-9a-f]{1,4}$/i.test(h))) return undefined;
  return all.map((h) => parseInt(h, 16));
}

// Checks made on the HTTP request before a WebSocket upgrade.
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

// Real keys for the token tests: generated per run with jose, public halves written as PEM files.
import { createHmac } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWTPayload } from "jose";

export const SECRET = "an-hs256-secret-of-well-over-32-bytes!";
export type Asymmetric = "RS256" | "ES256" | "EdDSA";

export interface KeyPair {
  alg: Asymmetric;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  pem: string;
  path: string;
}

/** A folder for key files, removed by the returned function. */
export function keyFolder(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "chat-keys-"));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export async function keyPair(alg: Asymmetric, dir: string, file = `${alg}-${crypto.randomUUID()}.pem`): Promise<KeyPair> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const pem = await exportSPKI(publicKey);
  const path = join(dir, file);
  writeFileSync(path, pem);
  return { alg, privateKey, publicKey, pem, path };
}

/** A token as an app's backend would sign it: sub, iat and a 1-hour exp unless the claims say otherwise. */
export async function sign(
  key: CryptoKey | Uint8Array | string,
  claims: JWTPayload = {},
  header: { alg?: string; kid?: string; [k: string]: unknown } = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const secret = typeof key === "string" ? new TextEncoder().encode(key) : key;
  return new SignJWT({ sub: "user-1", iat: now, exp: now + 3600, ...claims })
    .setProtectedHeader({ alg: "HS256", ...header })
    .sign(secret);
}

/** An unsigned token (`alg: none`), written by hand: jose will not make one for a JWT. */
export function unsigned(claims: JWTPayload): string {
  const part = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
  return `${part({ alg: "none", typ: "JWT" })}.${part(claims)}.`;
}

/** An HS256 token with any header and payload, signed by hand (jose refuses to sign some of them). */
export function hmacToken(header: object | string, payload: object | string, secret = SECRET): string {
  const part = (o: object | string) => Buffer.from(typeof o === "string" ? o : JSON.stringify(o)).toString("base64url");
  const input = `${part(header)}.${part(payload)}`;
  return `${input}.${createHmac("sha256", secret).update(input).digest("base64url")}`;
}

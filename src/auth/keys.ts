// The verification key of CHAT_AUTH_PUBLIC_KEY: a PEM file read once at start-up. Its algorithm
// comes from the key itself, never from a token, so a token cannot choose how it is checked.
import { createPublicKey, type KeyObject } from "node:crypto";
import { open } from "node:fs/promises";
import { importSPKI, type CryptoKey } from "jose";
import { ConfigError } from "../config";

/** The algorithms a public key may verify: the contract's RS256, ES256 and EdDSA. */
export type PublicKeyAlgorithm = "RS256" | "ES256" | "EdDSA";

export interface PublicKey {
  key: CryptoKey;
  algorithm: PublicKeyAlgorithm;
}

const SETTING = "--auth-public-key / CHAT_AUTH_PUBLIC_KEY";
// A PEM public key is under 1 KiB (RSA 4096: ~800 bytes); a path to a huge file or a device
// (/dev/zero) must fail at once instead of filling memory.
const PEM_MAX_BYTES = 64 * 1024;

/** Reads and parses the key; any problem is a ConfigError naming the setting (exit 2). */
export async function loadPublicKey(path: string): Promise<PublicKey> {
  const pem = await readPem(path);
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) {
    throw new ConfigError(`${SETTING}: ${JSON.stringify(path)} holds a private key; give the server the public key only (openssl pkey -in key.pem -pubout)`);
  }
  let object: KeyObject;
  try {
    object = createPublicKey({ key: pem, format: "pem" });
  } catch {
    throw new ConfigError(`${SETTING}: ${JSON.stringify(path)} is not a PEM public key (-----BEGIN PUBLIC KEY-----)`);
  }
  const algorithm = algorithmOf(object);
  // Re-exported as SPKI so that a PKCS#1 RSA key or a certificate's key imports the same way.
  const spki = object.export({ type: "spki", format: "pem" }) as string;
  return { key: await importSPKI(spki, algorithm), algorithm };
}

async function readPem(path: string): Promise<string> {
  try {
    const file = await open(path, "r");
    try {
      const { size } = await file.stat();
      if (size > PEM_MAX_BYTES) throw new ConfigError(`${SETTING}: ${JSON.stringify(path)} is ${size} bytes, too large for a PEM public key`);
      const buffer = Buffer.alloc(PEM_MAX_BYTES + 1);
      const { bytesRead } = await file.read(buffer, 0, buffer.length, 0);
      if (bytesRead > PEM_MAX_BYTES) throw new ConfigError(`${SETTING}: ${JSON.stringify(path)} is too large for a PEM public key`);
      return buffer.subarray(0, bytesRead).toString("utf8");
    } finally {
      await file.close();
    }
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    const code = (error as NodeJS.ErrnoException).code ?? "unreadable";
    throw new ConfigError(`${SETTING}: cannot read ${JSON.stringify(path)} (${code})`);
  }
}

function algorithmOf(key: KeyObject): PublicKeyAlgorithm {
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case "rsa":
      // RFC 7518 asks for 2048 bits at least; jose refuses smaller keys at every verify instead.
      if ((details.modulusLength ?? 0) < 2048) throw new ConfigError(`${SETTING}: an RSA key of ${details.modulusLength} bits; RS256 needs 2048 or more`);
      return "RS256";
    case "ec":
      if (details.namedCurve !== "prime256v1") throw new ConfigError(`${SETTING}: an EC key on ${details.namedCurve}; ES256 needs P-256`);
      return "ES256";
    case "ed25519":
      return "EdDSA";
    default:
      throw new ConfigError(`${SETTING}: a ${key.asymmetricKeyType} key; RSA (RS256), EC P-256 (ES256) or Ed25519 (EdDSA) keys only`);
  }
}

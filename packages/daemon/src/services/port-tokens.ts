// Port-proxy tokens kept out of the database: an exposure stores a random nonce and the token's
// sha256, and the token itself is HMAC(key, nonce) under a key the daemon keeps in its own 0600
// file. A copy of sbx.db (a backup, a host user who got the file) opens no port; the owning project
// can still list its token, and re-exposing keeps it.
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import type { PortExposureRecord } from "../domain/records.js";

/** The key in `path`, made (0600) on first use. */
export function loadTokenKey(path: string): Buffer {
  if (!existsSync(path)) writeFileSync(path, randomBytes(32), { mode: 0o600, flag: "wx" });
  chmodSync(path, 0o600);
  return readFileSync(path);
}

export class PortTokens {
  constructor(private readonly key: Buffer = randomBytes(32)) {}

  private tokenOf(nonce: string): string {
    return createHmac("sha256", this.key).update(nonce).digest("base64url").slice(0, 32);
  }

  /** A new secret for an exposure: what to store (nonce, hash; no token). */
  mint(): { nonce: string; tokenHash: string } {
    const nonce = randomBytes(16).toString("base64url");
    return { nonce, tokenHash: hash(this.tokenOf(nonce)) };
  }

  /** The record as stored: the token blanked. */
  sealed(e: PortExposureRecord): PortExposureRecord {
    return { ...e, token: "" };
  }

  /** The record with its token filled in from the nonce ("" for a legacy record: it needs a new one). */
  opened(e: PortExposureRecord): PortExposureRecord {
    return { ...e, token: e.nonce ? this.tokenOf(e.nonce) : "" };
  }

  /** Whether `given` is the exposure's token, by its hash (timing-safe). */
  matches(given: string, e: PortExposureRecord): boolean {
    if (!e.tokenHash) return false;
    const a = Buffer.from(hash(given));
    const b = Buffer.from(e.tokenHash);
    return a.length === b.length && timingSafeEqual(a, b);
  }
}

function hash(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

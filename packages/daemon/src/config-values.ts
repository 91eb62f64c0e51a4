// sbxd's setting values as flags and environment variables spell them: each parser checks one
// kind of value and says which flag was wrong (config.ts applies them; nothing here reads the environment).
import { RUNTIME_NAMES, type RuntimeName } from "./runtime/runtime.js";

export const DAEMON_ROLES = ["single", "control", "node"] as const;
export type DaemonRole = (typeof DAEMON_ROLES)[number];

/** A relative cgroup path (`sbx`, `sbx-n1`, `sbx/n1`): never absolute, empty or with `.`/`..` parts. */
export function parseCgroupParent(flag: string, value: string): string {
  const parts = value.split("/");
  if (!parts.every((p) => /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}$/.test(p)) || parts.length > 8)
    throw new Error(
      `option ${flag} takes a relative cgroup path of names (letters, digits, _ . -) joined by /, e.g. sbx or sbx-n1, got ${JSON.stringify(value)}`,
    );
  return value;
}

/** An nftables table name sbx owns: the same rule as runtime/network.ts checks. */
export function parseNftTable(flag: string, value: string): string {
  if (!/^[a-z][a-z0-9_]{0,31}$/.test(value))
    throw new Error(
      `option ${flag} takes a table name of lowercase letters, digits and _, got ${JSON.stringify(value)}`,
    );
  return value;
}

export function parseCacheMb(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isInteger(n) || n < 0)
    throw new Error(`SBX_CONTENT_CACHE_MB takes a whole number of MB (0 or more), got ${value}`);
  return n;
}

export function parseCount(flag: string, value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isInteger(n) || n < 0 || n > 64)
    throw new Error(`option ${flag} takes a whole number from 0 to 64, got ${value}`);
  return n;
}

/** A whole number from `min` to `max`. */
export function parseBounded(flag: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isInteger(n) || n < min || n > max)
    throw new Error(`option ${flag} takes a whole number from ${min} to ${max}, got ${value}`);
  return n;
}

/** Sandbox uids are this plus 0..65535 on the host: 0 would make a sandbox's root the host's root. */
export function parseUidBase(flag: string, value: string): number {
  const n = Number(value);
  const max = 2 ** 32 - 1 - 65536;
  if (value.trim() === "" || !Number.isInteger(n) || n < 1 || n > max)
    throw new Error(`option ${flag} takes a whole number from 1 to ${max}, got ${value}`);
  return n;
}

export function parseSeconds(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0.1 || n > 86400)
    throw new Error(`option ${flag} takes seconds from 0.1 to 86400, got ${value}`);
  return n;
}

export function parseRetention(flag: string, value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isInteger(n) || n < 0 || n > 365 * 86400)
    throw new Error(`option ${flag} takes whole seconds from 0 to ${365 * 86400}, got ${value}`);
  return n;
}

export function parseRuntime(flag: string, value: string): RuntimeName {
  if (!(RUNTIME_NAMES as readonly string[]).includes(value))
    throw new Error(`option ${flag} takes one of ${RUNTIME_NAMES.join(", ")}, got ${JSON.stringify(value)}`);
  return value as RuntimeName;
}

/** "sqlite" (null: the default) or a postgres:// URL; anything else is refused before the daemon starts. */
export function parseStore(flag: string, value: string): string | null {
  if (value === "sqlite" || value === "") return null;
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== "postgres:" && url.protocol !== "postgresql:") || !url.hostname)
    throw new Error(
      `option ${flag} takes sqlite or a URL postgres://user:password@host:port/database, got a value that is neither`,
    );
  return value;
}

export function parseRole(flag: string, value: string): DaemonRole {
  if (!(DAEMON_ROLES as readonly string[]).includes(value))
    throw new Error(`option ${flag} takes one of ${DAEMON_ROLES.join(", ")}, got ${JSON.stringify(value)}`);
  return value as DaemonRole;
}

export function offOr(value: string): string | null {
  return value === "off" || value === "" ? null : value;
}

// Registry image references (`host[:port]/repository[:tag][@sha256:…]`): what counts as one (its
// first part must look like a host: a dot, a port or localhost, so `team/web:2` stays a local
// image name), and whether a registry is on loopback (then plain HTTP is the default).
import { SbxError } from "@sbx-sh/protocol";

export interface RegistryRef {
  registry: string;
  repository: string;
  tag: string | null;
  digest: string | null;
}

/** `host[:port]/repo/path[:tag][@sha256:...]`; the first part must look like a host (a dot, a port or localhost). */
export function parseRegistryRef(ref: string): RegistryRef {
  const m =
    /^([^/]+)\/([a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*)(?::([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?:@(sha256:[0-9a-f]{64}))?$/.exec(
      ref,
    );
  const host = m?.[1];
  if (!m || !host || !(host.includes(".") || host.includes(":") || host === "localhost")) {
    throw new SbxError(
      "invalid_argument",
      `${JSON.stringify(ref)} is not a registry reference: use host[:port]/repository[:tag], e.g. localhost:5000/team/web:2`,
    );
  }
  return { registry: host, repository: m[2]!, tag: m[3] ?? (m[4] ? null : "latest"), digest: m[4] ?? null };
}

/** Whether a string names a registry image (rather than a local image name). */
export function isRegistryRef(ref: string): boolean {
  try {
    parseRegistryRef(ref);
    return true;
  } catch {
    return false;
  }
}

/** Whether a registry's `host[:port]` is this machine's loopback. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
  return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h);
}

// Where cluster content lives in the registry (`--registry host:port` on the control plane and
// every node) and what describes it. A snapshot (or a suspend) is one OCI image manifest in the
// repository `sbx/content`, tagged with the snapshot id: its layers are the snapshot's stack (gzip
// tars, owners un-shifted, as `sbx image push` writes them), and the manifest's `sh.sbx.content`
// annotation says what the stack stands on: a base recipe every node builds the same way (not
// pushed: it is not a committed layer) or, for anything else, the base dir pushed as layer 0.
// The shared record (snapshot id → project and manifest digest) is the control plane's, in
// PostgreSQL (content-records.ts): nodes fetch by digest, so a re-pointed tag changes nothing.
import { SbxError } from "@sbx-sh/protocol";
import { forbiddenRange } from "../oci/outbound.js";
import { parseRegistryRef, RegistryClient } from "../oci/registry-client.js";

export const CONTENT_REPOSITORY = "sbx/content";
export const CONTENT_ANNOTATION = "sh.sbx.content";

/** What a pushed snapshot stands on and the record a node recreates from it. */
export interface ContentMeta {
  kind: "snapshot";
  id: string;
  project: string;
  sourceSandboxId: string;
  sourceImage: string;
  sourceImageId: string;
  /** A base recipe (not pushed), or null: layer 0 of the manifest is the base dir. */
  baseRecipe: { name: string; id: string } | null;
  baseImage: string;
  config: { env: string[]; workingDir: string; user: string; systemd: boolean };
  /** Each stack layer's step, in manifest order (after the base layer if one was pushed). */
  steps: string[];
}

/** Whether `hostPort` (host[:port], IPv6 in brackets) names this machine's loopback. */
function isLoopbackHost(hostPort: string): boolean {
  const host = hostPort
    .replace(/:\d+$/, "")
    .replace(/^\[|\]$/g, "")
    .toLowerCase();
  return host === "localhost" || forbiddenRange(host) === "loopback";
}

/** A client for the cluster's content repository on `registry` (host:port, operator-given, so allowed). */
export function contentClient(registry: string, tag: string | null, digest: string | null = null): RegistryClient {
  const ref = parseRegistryRef(`${registry}/${CONTENT_REPOSITORY}`);
  return new RegistryClient(
    { ...ref, tag, digest },
    {},
    // Exactly the operator's host:port (a redirect or upload location elsewhere is checked like any
    // outbound call); loopback is reachable only when the registry itself is there.
    { allowLoopback: isLoopbackHost(ref.registry), allow: [registry] },
  );
}

/** A registry failure while committing, said as such: nothing was committed, and why. */
export function notCommitted(
  what: string,
  registry: string,
  err: unknown,
  after = "the sandbox keeps running",
): SbxError {
  const e = err instanceof SbxError ? err : undefined;
  const why = err instanceof Error ? err.message : String(err);
  const down = !e || (e.code === "failed_precondition" && /cannot reach/.test(why));
  return new SbxError(
    down ? "upstream_unreachable" : e.code,
    `${what} was not committed: the cluster registry ${registry} did not store its layers (${why}); ${after}, try again once the registry is back`,
    { registry },
  );
}

/** The parsed, checked annotation of a pulled manifest: anything else is refused. */
export function parseContentMeta(raw: string | undefined): ContentMeta {
  let m: Partial<ContentMeta>;
  try {
    m = JSON.parse(raw ?? "") as Partial<ContentMeta>;
  } catch {
    throw new SbxError("invalid_archive", "the manifest carries no sbx content description");
  }
  const str = (v: unknown): v is string => typeof v === "string" && v.length < 4096;
  const ok =
    m.kind === "snapshot" &&
    str(m.id) &&
    str(m.project) &&
    str(m.sourceSandboxId) &&
    str(m.sourceImage) &&
    str(m.sourceImageId) &&
    str(m.baseImage) &&
    (m.baseRecipe === null || (typeof m.baseRecipe === "object" && str(m.baseRecipe?.name) && str(m.baseRecipe.id))) &&
    typeof m.config === "object" &&
    m.config !== null &&
    Array.isArray(m.config.env) &&
    m.config.env.every(str) &&
    str(m.config.workingDir) &&
    str(m.config.user) &&
    typeof m.config.systemd === "boolean" &&
    Array.isArray(m.steps) &&
    m.steps.every(str);
  if (!ok) throw new SbxError("invalid_archive", "the manifest's sbx content description is malformed");
  return m as ContentMeta;
}

// Where cluster content lives in the registry (`--registry host:port` on the control plane and
// every node) and what describes it. A snapshot (or a suspend) is one OCI image manifest in the
// repository `sbx/content`, tagged with the snapshot id: its layers are the snapshot's stack (gzip
// tars, owners un-shifted, as `sbx image push` writes them), and the manifest's `sh.sbx.content`
// annotation says what the stack stands on: a base recipe every node builds the same way (not
// pushed: it is not a committed layer) or, for anything else, the base dir pushed as layer 0.
// The shared record (snapshot id → project and manifest digest) is the control plane's, in
// PostgreSQL (content-records.ts): nodes fetch by digest, so a re-pointed tag changes nothing.
import { SbxError } from "@sbx-sh/protocol";
import { failureDetails } from "../oci/registry-failure.js";

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

/**
 * Why a registry call failed, when it is the operator's problem (sbx's users cannot fix it): a
 * registry that is down or unreachable, refuses this daemon's credentials or serves a certificate
 * that does not verify; undefined for anything else (a tampered layer, a malformed answer).
 */
function operatorTrouble(err: unknown): { why: string; reason?: string } | undefined {
  const e = err instanceof SbxError ? err : undefined;
  const msg = err instanceof Error ? err.message : String(err);
  if ((e?.details as { reason?: unknown } | undefined)?.reason === "tls_verify_failed")
    return {
      why: `its TLS certificate does not verify against this daemon's --registry-ca (${msg})`,
      reason: "registry_tls_verify_failed",
    };
  if (e?.code === "unauthenticated" || e?.code === "permission_denied")
    return {
      why: `it refused this daemon's credentials (HTTP ${e.code === "unauthenticated" ? 401 : 403}): check --registry-auth-file on this daemon`,
      reason: "registry_auth_refused",
    };
  if (!e || failureDetails(e)?.reason === "unreachable") return { why: `it is unreachable (${msg})` };
  return undefined;
}

/**
 * A registry failure said as the operator's problem it is: upstream_unreachable naming the flag to
 * check, never a 401/403 of sbx's own (the caller's token is not what was refused); anything else
 * keeps its code.
 */
export function registryTrouble(registry: string, err: unknown): SbxError {
  const t = operatorTrouble(err);
  if (!t) return err as SbxError;
  return new SbxError("upstream_unreachable", `the cluster registry ${registry}: ${t.why}`, {
    registry,
    ...(t.reason ? { reason: t.reason } : {}),
  });
}

/** A registry failure while committing, said as such: nothing was committed, and why. */
export function notCommitted(
  what: string,
  registry: string,
  err: unknown,
  after = "the sandbox keeps running",
): SbxError {
  const t = operatorTrouble(err);
  const e = err as SbxError;
  return new SbxError(
    t ? "upstream_unreachable" : e.code,
    `${what} was not committed: the cluster registry ${registry} did not store its layers (${t?.why ?? e.message}); ${after}, try again once the registry is back`,
    { ...(t ? {} : e.details), registry, ...(t?.reason ? { reason: t.reason } : {}) },
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

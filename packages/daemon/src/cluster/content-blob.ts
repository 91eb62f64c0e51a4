// One blob of cluster content downloaded from the cluster registry into a file, by digest. A blob
// is immutable and checked against its digest at the end of every attempt, so a download that
// broke off (a connection the registry or a proxy cut mid-body, a reset, a 5xx) is safely tried
// again from the start, a bounded number of times: RegistryClient.getBlob discards the partial
// file of each attempt. What the registry refuses (a missing blob, other bytes than the digest,
// credentials) is final at once. A download that finally fails says which blob, from which
// registry, and why.
import { SbxError } from "@sbx-sh/protocol";
import type { Logger } from "../common/log.js";
import type { RegistryClient } from "../oci/registry-client.js";

/** Attempts of one blob before the pull fails. */
export const BLOB_ATTEMPTS = 3;

/** Whether a failed attempt may go better the next time: the transfer broke, not the content. */
function transient(err: unknown): boolean {
  if (!(err instanceof SbxError)) return true; // undici's "terminated", a socket reset, a stream closed early
  const status = (err.details as { status?: unknown } | undefined)?.status;
  if (err.code === "runtime_error" && typeof status === "number" && status >= 500) return true;
  return err.code === "failed_precondition" && /cannot reach/.test(err.message);
}

/**
 * Downloads `digest` (`size` bytes, as the manifest declares) into `path`, retrying a transfer that
 * broke off; `what` names the blob in errors ("layer sha256:…", "config sha256:…").
 */
export async function pullBlob(
  client: RegistryClient,
  registry: string,
  what: string,
  blob: { digest: string; size: number },
  path: string,
  log?: Logger,
  attempts = BLOB_ATTEMPTS,
): Promise<void> {
  for (let i = 1; ; i++) {
    try {
      await client.getBlob(blob.digest, blob.size, path);
      return;
    } catch (err) {
      if (!transient(err)) throw err;
      const cause = (err as { cause?: { message?: unknown } }).cause?.message;
      const why = `${err instanceof Error ? err.message : String(err)}${typeof cause === "string" ? ` (${cause})` : ""}`;
      log?.warn({ blob: blob.digest, registry, attempt: i, why }, "cluster registry: a blob download broke off");
      if (i >= attempts)
        throw new SbxError(
          "upstream_unreachable",
          `${what} could not be downloaded from the cluster registry ${registry}: the transfer broke off ${attempts} times (last: ${why})`,
          { registry, blob: blob.digest, attempts },
        );
    }
  }
}

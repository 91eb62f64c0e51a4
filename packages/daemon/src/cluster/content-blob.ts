// One blob of cluster content downloaded from the cluster registry into a file, by digest. The
// registry client tries a transfer that failed again (oci/registry-blob.ts: a bounded number of
// attempts, each digest-checked, no partial file left); here each failed attempt is logged, and a
// download that finally fails that way is said as the cluster's problem it is: upstream_unreachable,
// naming which blob and which registry. What the registry refuses (a missing blob, other bytes than
// the digest, credentials) keeps its own error.
import { SbxError } from "@sbx-sh/protocol";
import type { Logger } from "../common/log.js";
import { BLOB_RETRY } from "../oci/registry-blob.js";
import type { RegistryClient } from "../oci/registry-client.js";
import { failureDetails } from "../oci/registry-failure.js";

/** Attempts of one blob before the pull fails. */
export const BLOB_ATTEMPTS = BLOB_RETRY.attempts;

/**
 * Downloads `digest` (`size` bytes, as the manifest declares) into `path`; `what` names the blob
 * in errors ("layer sha256:…", "config sha256:…").
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
  try {
    await client.getBlob(blob.digest, blob.size, path, {
      retry: { attempts },
      onRetry: ({ attempt, error, waitMs }) =>
        log?.warn(
          { blob: blob.digest, registry, attempt, waitMs, reason: failureDetails(error)?.reason, why: error.message },
          "cluster registry: a blob download failed; trying again",
        ),
    });
  } catch (err) {
    const d = failureDetails(err);
    if (!d?.transient) throw err;
    throw new SbxError(
      "upstream_unreachable",
      `${what} could not be downloaded from the cluster registry ${registry}: ${(err as Error).message.replace(`registry ${registry}: `, "")}`,
      { registry, blob: blob.digest, attempts: d.attempts, reason: d.reason },
    );
  }
}

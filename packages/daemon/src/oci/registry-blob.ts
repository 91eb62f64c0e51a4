// Downloading one blob from a registry into a file, by digest, for every pull (`sbx image pull`,
// `FROM registry/…`, the cluster's content). A blob is immutable and checked against its digest
// at the end of each attempt, so a transfer that failed (the registry could not be reached, the
// connection broke off mid-body or the body ended short, a 5xx, a 429) is tried again from the
// start, a bounded number of times, waiting a little longer each time or as long as Retry-After
// asks within a bound. Each attempt writes `<path>.part` and removes it whatever happens; progress
// counts each byte of the blob once, however many attempts it took. What the registry refuses (a
// missing blob, credentials) is final at once, and so is content that is not the digest's: a
// registry that serves other bytes at full length is broken or hostile, and asking it again only
// gives it another go at our bandwidth.
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { pipeline } from "node:stream/promises";
import { SbxError } from "@sbx-sh/protocol";
import { checkDigest } from "./layout.js";
import { errorBody, failureDetails, registryFailure, withDetails } from "./registry-failure.js";

/** How often and how patiently a blob download is tried. */
export interface BlobRetry {
  /** Attempts in all, the first one included. */
  attempts: number;
  /** The wait after the first failed attempt; each later wait is 4 times the one before. */
  firstDelayMs: number;
  /** The longest wait: a registry that asks for more (Retry-After) fails the download now. */
  maxWaitMs: number;
}

export const BLOB_RETRY: BlobRetry = { attempts: 3, firstDelayMs: 250, maxWaitMs: 30_000 };

/** A failed attempt that will be tried again, for the caller's log. */
export interface BlobRetryNotice {
  attempt: number;
  error: SbxError;
  waitMs: number;
}

export interface GetBlobOptions {
  /** Bytes of the blob received for the first time (an attempt after a broken one reports only what is new). */
  onBytes?: (n: number) => void;
  onRetry?: (notice: BlobRetryNotice) => void;
  retry?: Partial<BlobRetry>;
}

/** What a download needs of the client: the registry's name, and one GET of the blob (auth answered). */
export interface BlobSource {
  registry: string;
  repository: string;
  get: () => Promise<Response>;
}

/** Downloads `digest` (`size` bytes) into `path`; nothing is left behind on failure. */
export async function downloadBlob(
  from: BlobSource,
  blob: { digest: string; size: number },
  path: string,
  o: GetBlobOptions = {},
): Promise<void> {
  checkDigest(blob.digest, "a blob");
  const r = { ...BLOB_RETRY, ...o.retry };
  let reported = 0;
  const progress = (got: number) => {
    if (got <= reported) return;
    o.onBytes?.(got - reported);
    reported = got;
  };
  for (let attempt = 1; ; attempt++) {
    try {
      return await downloadOnce(from, blob, path, progress);
    } catch (err) {
      const d = failureDetails(err);
      if (!d?.transient) throw err;
      const e = err as SbxError;
      const tried = attempt === 1 ? "" : `; tried ${attempt} times`;
      if (attempt >= r.attempts) throw withDetails(e, tried, { attempts: attempt });
      if ((d.retryAfterMs ?? 0) > r.maxWaitMs)
        throw withDetails(
          e,
          `; it asks to wait ${Math.ceil(d.retryAfterMs! / 1000)} s before trying again, longer than sbx waits (${Math.ceil(r.maxWaitMs / 1000)} s)${tried}`,
          { attempts: attempt },
        );
      const waitMs = Math.min(r.maxWaitMs, Math.max(r.firstDelayMs * 4 ** (attempt - 1), d.retryAfterMs ?? 0));
      o.onRetry?.({ attempt, error: e, waitMs });
      await sleep(waitMs);
    }
  }
}

/** One attempt: GET, stream into `<path>.part` checking size and digest, rename into place. */
async function downloadOnce(
  from: BlobSource,
  { digest, size }: { digest: string; size: number },
  path: string,
  progress: (got: number) => void,
): Promise<void> {
  const res = await from.get();
  if (res.status === 404) {
    await res.body?.cancel();
    throw registryFailure(from.registry, "invalid_archive", `blob ${digest} is missing from ${from.repository}`, res);
  }
  if (!res.ok || !res.body)
    throw registryFailure(from.registry, "runtime_error", `cannot get blob ${digest}`, res, await errorBody(res));
  const hash = createHash("sha256");
  let got = 0;
  const tmp = `${path}.part`;
  try {
    await pipeline(
      received(res.body, (err) => transferBroken(from.registry, digest, got, err)),
      async function* (src: AsyncIterable<Buffer>) {
        for await (const c of src) {
          hash.update(c);
          got += c.length;
          if (got > size)
            throw new SbxError("invalid_archive", `blob ${digest} is larger than its descriptor says (${size} bytes)`);
          progress(got);
          yield c;
        }
      },
      createWriteStream(tmp),
    );
    // A body that ended early (a connection closed where its length was not framed) is a transfer
    // that broke off; a whole-length body of other bytes is other content.
    if (got < size)
      throw transferBroken(from.registry, digest, got, new Error(`its body ended short of the ${size} bytes declared`));
    const actual = `sha256:${hash.digest("hex")}`;
    if (actual !== digest)
      throw registryFailure(
        from.registry,
        "invalid_archive",
        `blob ${digest} does not match its descriptor (got ${actual}, ${got} bytes)`,
      );
    await rename(tmp, path);
  } finally {
    await rm(tmp, { force: true });
  }
}

/**
 * The body's chunks; an error reading them (the network's: the pipeline's own stages and the file
 * keep theirs) becomes `broke(err)`. The body is cancelled if the pipeline stops early.
 */
async function* received(body: ReadableStream<Uint8Array>, broke: (err: unknown) => SbxError) {
  const reader = body.getReader();
  try {
    for (;;) {
      let next: Awaited<ReturnType<typeof reader.read>>;
      try {
        next = await reader.read();
      } catch (err) {
        throw broke(err);
      }
      if (next.done) return;
      yield Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}

/** The transient error of a body that broke off after `got` bytes, with the network's own words. */
function transferBroken(registry: string, digest: string, got: number, err: unknown): SbxError {
  const e = err as { message?: unknown; cause?: { message?: unknown; code?: unknown } };
  const cause = e.cause?.code ?? e.cause?.message;
  const why = `${String(e.message ?? err)}${typeof cause === "string" ? `: ${cause}` : ""}`;
  return registryFailure(
    registry,
    "upstream_unreachable",
    `the download of blob ${digest} broke off after ${got} bytes (${why})`,
    undefined,
    undefined,
    { reason: "transfer_broken", transient: true },
  );
}

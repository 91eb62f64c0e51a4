// One sbx layer dir as an OCI layer blob, in a single pass: GNU tar walks the dir (sorted, hard
// links detected, xattrs read), OciLayerRewrite turns its entries into OCI form, the result is
// gzipped in parallel blocks and hashed (the diff id, on a worker thread), and the compressed
// bytes are hashed (the blob digest) on their way into a Spool. Nothing is read twice.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { SbxError } from "@sbx-sh/protocol";
import { MEDIA, type Descriptor } from "./layout.js";
import { OciLayerRewrite } from "./layer-rewrite.js";
import { BlockDigest } from "./block-digest.js";
import { GzipBlocks } from "./parallel-gzip.js";
import type { Spool } from "./spool.js";

export interface ExportLayer {
  dir: string;
  /** The offset the layer's owners are shifted by (0 for host-id images). */
  uidBase: number;
}

export interface LayerBlob {
  desc: Descriptor;
  diffId: string;
}

const TAR_ARGS = [
  "--sort=name",
  "--numeric-owner",
  "--xattrs",
  "--xattrs-include=trusted.overlay.opaque",
  "--xattrs-include=security.capability",
  "--xattrs-include=user.*",
  // No atime/ctime/sub-second mtime pax records (the rewrite drops them, mtime to whole seconds as
  // before): without them most entries need no pax header, a twentieth less to parse.
  "--pax-option=delete=atime,delete=ctime,delete=mtime",
];

/** Writes the layer's gzip blob into `spool` (ended on success); `signal` stops tar and the work. */
export async function produceLayerBlob(layer: ExportLayer, spool: Spool, signal?: AbortSignal): Promise<LayerBlob> {
  signal?.throwIfAborted();
  const child = spawn("tar", [...TAR_ARGS, "-C", layer.dir, "-cf", "-", "."], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (b: Buffer) => (stderr = (stderr + b.toString()).slice(-2000)));
  const exited = new Promise<number>((resolve) => {
    child.on("error", () => resolve(127));
    child.on("close", (c) => resolve(c ?? 1));
  });
  const stop = (): void => void child.kill("SIGKILL");
  signal?.addEventListener("abort", stop, { once: true });
  // The diff id and the gzip CRC are computed on a worker: the main thread only parses and dispatches.
  const diff = new BlockDigest();
  const blob = createHash("sha256");
  let spoolWait: Promise<void> | undefined;
  // Level 1: about twice as fast as the default for ~10% larger blobs (measured on debian-minimal).
  const gz = new GzipBlocks(
    (b) => {
      blob.update(b);
      const w = spool.write(b);
      if (w) spoolWait = w;
    },
    { level: 1, digest: diff },
  );
  const rewrite = new OciLayerRewrite(layer.uidBase);
  let diffId: string;
  try {
    for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
      for (const piece of rewrite.write(chunk)) {
        const w = gz.write(piece);
        if (w) await w;
      }
      if (spoolWait) {
        await spoolWait;
        spoolWait = undefined;
      }
      signal?.throwIfAborted();
    }
    signal?.throwIfAborted();
    const code = await exited;
    if (code !== 0) throw new SbxError("runtime_error", `cannot read layer ${layer.dir}: ${stderr.trim()}`);
    rewrite.end();
    diffId = `sha256:${(await gz.end())!}`;
    if (spoolWait) await spoolWait;
    await spool.end();
  } catch (err) {
    stop();
    child.stdout.destroy();
    await diff.close();
    throw err;
  } finally {
    signal?.removeEventListener("abort", stop);
  }
  return {
    desc: { mediaType: MEDIA.layerGzip, digest: `sha256:${blob.digest("hex")}`, size: spool.size },
    diffId,
  };
}

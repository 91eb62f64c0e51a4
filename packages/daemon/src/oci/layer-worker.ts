// The worker-thread side of layer-thread.ts: runs produceLayerBlob (tar, rewrite, gzip, hashes) in
// an isolate of its own and sends the compressed blob to the daemon's main thread in ~1 MiB
// ArrayBuffers (transferred, not copied). The 127 MB of tar output of a base layer and the zlib
// output pieces are then garbage of this small heap, not of the daemon's: in the daemon's isolate
// they drove scavenges and incremental marking that cost more CPU than the hashing.
import { parentPort } from "node:worker_threads";
import { SbxError } from "@sbx-sh/protocol";
import { produceLayerBlob, type BlobSink, type ExportLayer } from "./layer-blob.js";

/** Compressed bytes sent in one message. */
const BATCH = 1 << 20;
/** Bytes sent and not yet taken by the main thread's sink before the producer waits. */
const IN_FLIGHT = 8 << 20;

export type ToWorker = { type: "run"; layer: ExportLayer } | { type: "ack"; bytes: number } | { type: "abort" };
export type FromWorker =
  | { type: "data"; buf: ArrayBuffer }
  | { type: "done"; digest: string; size: number; diffId: string; mediaType: string }
  | { type: "error"; code?: string; message: string };

const port = parentPort!;
let job: { ac: AbortController; unacked: number; wake: (() => void) | undefined } | undefined;

/** A BlobSink that batches the chunks into transferable buffers and waits for the main thread's acks. */
class PortSink implements BlobSink {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  size = 0;

  write(b: Buffer): Promise<void> | undefined {
    this.pending.push(b);
    this.pendingBytes += b.length;
    this.size += b.length;
    if (this.pendingBytes >= BATCH) this.flush();
    if (job!.unacked <= IN_FLIGHT) return undefined;
    return new Promise((resolve) => (job!.wake = resolve));
  }

  async end(): Promise<void> {
    this.flush();
  }

  private flush(): void {
    if (this.pendingBytes === 0) return;
    const buf = new ArrayBuffer(this.pendingBytes);
    const view = Buffer.from(buf);
    let at = 0;
    for (const p of this.pending) at += p.copy(view, at);
    job!.unacked += this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
    port.postMessage({ type: "data", buf } satisfies FromWorker, [buf]);
  }
}

async function run(layer: ExportLayer): Promise<void> {
  const ac = new AbortController();
  job = { ac, unacked: 0, wake: undefined };
  try {
    const blob = await produceLayerBlob(layer, new PortSink(), ac.signal);
    port.postMessage({ type: "done", ...blob.desc, diffId: blob.diffId } satisfies FromWorker);
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    port.postMessage({ type: "error", code: e instanceof SbxError ? e.code : undefined, message: e.message });
  } finally {
    job = undefined;
  }
}

port.on("message", (m: ToWorker) => {
  if (m.type === "run") void run(m.layer);
  else if (m.type === "abort") {
    job?.ac.abort();
    job?.wake?.(); // a producer waiting for an ack that will not come sees the abort now
  } else if (job) {
    job.unacked -= m.bytes;
    if (job.unacked <= IN_FLIGHT && job.wake) {
      const wake = job.wake;
      job.wake = undefined;
      wake();
    }
  }
});

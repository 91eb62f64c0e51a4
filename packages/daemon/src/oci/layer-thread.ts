// produceLayerBlob on a worker thread (layer-worker.ts): the export's per-byte work (tar's output,
// the rewrite, the gzip blocks, both hashes) runs in an isolate of its own, and the daemon's main
// thread only hands finished ~1 MiB pieces of the blob to the sink. Same bytes, same errors (an
// SbxError keeps its code), same cancellation (the signal stops tar in the worker). Workers are
// kept for the next layer (unref'd: an idle one never holds the daemon up).
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { SbxError, type ErrorCode } from "@sbx-sh/protocol";
import { MEDIA } from "./layout.js";
import type { BlobSink, ExportLayer, LayerBlob } from "./layer-blob.js";
import type { FromWorker, ToWorker } from "./layer-worker.js";

const IDLE: Worker[] = [];
const MAX_IDLE = 2;
/** Workers started so far (tests check that a finished one is reused). */
export const layerWorkers = { started: 0 };

/** From dist the worker is the compiled .js; from source (tests) tsx compiles the .ts in the worker. */
function startWorker(): Worker {
  layerWorkers.started++;
  const here = import.meta.url;
  if (!here.endsWith(".ts")) return new Worker(new URL("./layer-worker.js", here));
  const tsx = pathToFileURL(tsxEsmApi(here)).href;
  const entry = new URL("./layer-worker.ts", here).href;
  const boot = `import(${JSON.stringify(tsx)}).then((t) => { t.register(); return import(${JSON.stringify(entry)}); })`;
  return new Worker(boot, { eval: true });
}

/** tsx's ESM register API (its package exports map; require.resolve would give the CommonJS build). */
function tsxEsmApi(from: string): string {
  const pkg = createRequire(from).resolve("tsx/package.json");
  const json = JSON.parse(readFileSync(pkg, "utf8")) as { exports: Record<string, { import: { default: string } }> };
  return join(dirname(pkg), json.exports["./esm/api"]!.import.default);
}

function takeWorker(): Worker {
  const w = IDLE.pop() ?? startWorker();
  w.ref();
  return w;
}

/** Our listeners only: removeAllListeners() would also take the Worker's own (its port would stay shut). */
function unlisten(w: Worker): void {
  for (const e of ["message", "error", "exit"]) w.removeAllListeners(e);
}

function giveBack(w: Worker): void {
  unlisten(w);
  if (IDLE.length >= MAX_IDLE) return void w.terminate();
  // An idle worker that dies must leave the pool, not throw unhandled.
  const leave = (): void => void (IDLE.includes(w) && IDLE.splice(IDLE.indexOf(w), 1));
  w.once("error", leave);
  w.once("exit", leave);
  w.unref();
  IDLE.push(w);
}

/** produceLayerBlob(layer, sink, signal), computed on a worker thread. */
export function produceLayerBlobOffThread(
  layer: ExportLayer,
  sink: BlobSink,
  signal?: AbortSignal,
): Promise<LayerBlob> {
  signal?.throwIfAborted();
  const w = takeWorker();
  const send = (m: ToWorker): void => w.postMessage(m);
  return new Promise<LayerBlob>((resolve, reject) => {
    let settled = false;
    /** The sink's writes, in order: a chunk is acked once the sink took it (its backpressure is the worker's). */
    let chain: Promise<void> = Promise.resolve();
    const finish = (err: unknown, blob?: LayerBlob, reuse = false): void => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener("abort", onAbort);
      if (reuse) giveBack(w);
      else {
        unlisten(w);
        void w.terminate();
      }
      if (err) reject(err);
      else resolve(blob!);
    };
    const onAbort = (): void => send({ type: "abort" });
    signal?.addEventListener("abort", onAbort, { once: true });
    w.on("error", (e) => finish(e));
    w.on("exit", () => finish(new Error("the export worker exited")));
    w.on("message", (m: FromWorker) => {
      if (settled) return;
      if (m.type === "data") {
        const b = Buffer.from(m.buf);
        chain = chain.then(async () => {
          if (settled) return;
          try {
            await sink.write(b);
            send({ type: "ack", bytes: b.length });
          } catch (err) {
            send({ type: "abort" });
            finish(err); // the worker is ended, never reused mid-job
          }
        });
      } else if (m.type === "done") {
        const blob: LayerBlob = {
          desc: { mediaType: m.mediaType || MEDIA.layerGzip, digest: m.digest, size: m.size },
          diffId: m.diffId,
        };
        chain = chain.then(async () => {
          if (settled) return;
          try {
            await sink.end();
            finish(undefined, blob, true);
          } catch (err) {
            finish(err);
          }
        });
      } else {
        const err = signal?.aborted
          ? signal.reason
          : m.code
            ? new SbxError(m.code as ErrorCode, m.message)
            : new Error(m.message);
        // The job ended (tar stopped, spools gone): the worker can serve the next one.
        chain = chain.then(() => finish(err, undefined, true));
      }
    });
    send({ type: "run", layer });
  });
}

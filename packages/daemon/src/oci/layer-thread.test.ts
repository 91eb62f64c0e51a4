// produceLayerBlobOffThread: the blob a worker thread makes is the one produceLayerBlob makes on
// the main thread (digest, size, diff id, bytes), the worker is kept for the next layer, a layer
// that cannot be read is still a coded SbxError, and an abort stops the job.
import { createHash, randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SbxError } from "@sbx-sh/protocol";
import { produceLayerBlob, type BlobSink } from "./layer-blob.js";
import { layerWorkers, produceLayerBlobOffThread } from "./layer-thread.js";

/** A sink that keeps the sha256 of what it got, and waits a little now and then (backpressure). */
function hashSink(): BlobSink & { hex: () => string } {
  const h = createHash("sha256");
  let n = 0;
  let hex: string | undefined;
  return {
    write(b) {
      h.update(b);
      n += b.length;
      return n % 3 === 0 ? new Promise((r) => setTimeout(r, 1)) : undefined;
    },
    async end() {},
    get size() {
      return n;
    },
    hex: () => (hex ??= h.digest("hex")),
  };
}

describe("produceLayerBlobOffThread", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "sbx-layerthread-"));
    await mkdir(join(dir, "etc"));
    await writeFile(join(dir, "etc", "hello"), "hello\n");
    // Past several 1 MiB messages: compressible and random data.
    await writeFile(join(dir, "zeros.bin"), Buffer.alloc(3 << 20));
    await writeFile(join(dir, "random.bin"), randomBytes(5 << 20));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("makes the main thread's blob, byte for byte, and reuses its worker for the next layer", async () => {
    const here = hashSink();
    const want = await produceLayerBlob({ dir, uidBase: 0 }, here);
    const a = hashSink();
    expect(await produceLayerBlobOffThread({ dir, uidBase: 0 }, a)).toEqual(want);
    expect(a.hex()).toBe(here.hex());
    expect(`sha256:${a.hex()}`).toBe(want.desc.digest);
    const started = layerWorkers.started;
    const b = hashSink();
    expect(await produceLayerBlobOffThread({ dir, uidBase: 0 }, b)).toEqual(want);
    expect(b.hex()).toBe(here.hex());
    expect(layerWorkers.started).toBe(started);
  });

  it("reports a layer it cannot read as a coded error, and an abort as the abort", async () => {
    const err = await produceLayerBlobOffThread({ dir: join(dir, "missing"), uidBase: 0 }, hashSink()).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SbxError);
    expect((err as SbxError).code).toBe("runtime_error");
    const ac = new AbortController();
    const reason = new Error("client left");
    const sink = hashSink();
    const write = sink.write.bind(sink);
    sink.write = (b) => (ac.abort(reason), write(b));
    await expect(produceLayerBlobOffThread({ dir, uidBase: 0 }, sink, ac.signal)).rejects.toBe(reason);
    // The worker is still good for the next layer.
    const c = hashSink();
    expect((await produceLayerBlobOffThread({ dir, uidBase: 0 }, c)).desc.digest).toBe(`sha256:${c.hex()}`);
  });
});

// SnapshotService on the fake runtime with a real layer store: a snapshot holds the files a sandbox
// wrote (and what it deleted), new sandboxes start from it, snapshots stack, become images, fail
// cleanly, and their layers go once nothing uses them.
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SbxError } from "@sbx-sh/protocol";
import { eventually, readText, startServices, writeText, type ServiceHarness } from "./testing/service-harness.js";

let h: ServiceHarness;
beforeEach(async () => {
  h = await startServices();
});
afterEach(async () => {
  await h.close();
});

const P = "default";
const isRoot = process.getuid?.() === 0;
const layerDirs = async (): Promise<string[]> => (await readdir(h.layerStore.root).catch(() => [])).sort();

describe("SnapshotService", () => {
  it("snapshots a running sandbox's files; a new sandbox from it sees them, the source runs on", async () => {
    const src = await h.sandboxes.create(P, { env: { MODE: "test" } });
    await writeText(h, src.id, "/data/hello.txt", "hello from the source\n");
    const snap = await h.sandboxes.snapshot(P, src.id);
    expect(snap).toMatchObject({ status: "completed", sourceSandboxId: src.id, forSuspend: false, type: "filesystem" });
    expect(snap.layers).toHaveLength(1);
    expect(snap.sizeBytes).toBeGreaterThan(0);
    // The layer is a directory of the layer store holding what the sandbox wrote.
    expect(await readFile(join(snap.layers[0]!.dir, "data/hello.txt"), "utf8")).toBe("hello from the source\n");
    expect(h.runtime.calls).toContain(`exportLayer ${src.id}`);
    expect(h.runtime.sandboxes.get(src.id)).toMatchObject({ running: true, frozen: false });

    // Point in time: what the source writes later is not in the snapshot.
    await writeText(h, src.id, "/data/later.txt", "later\n");
    const copy = await h.sandboxes.create(P, { snapshotId: snap.id });
    expect(await readText(h, copy.id, "/data/hello.txt")).toBe("hello from the source\n");
    await expect(readText(h, copy.id, "/data/later.txt")).rejects.toMatchObject({ code: "file_not_found" });
    expect(copy).toMatchObject({ image: src.image, imageId: src.imageId, snapshotId: snap.id });
    expect((await h.snapshots.list(P)).map((s) => s.id)).toEqual([snap.id]);
    expect(await readText(h, src.id, "/data/later.txt")).toBe("later\n");
  });

  it.skipIf(!isRoot)("carries deletions of the image's files into the sandboxes made from it", async () => {
    const src = await h.sandboxes.create(P, {});
    await h.files.remove(P, src.id, "/etc/hostname", false);
    const snap = await h.sandboxes.snapshot(P, src.id);
    const copy = await h.sandboxes.create(P, { snapshotId: snap.id });
    await expect(readText(h, copy.id, "/etc/hostname")).rejects.toMatchObject({ code: "file_not_found" });
    expect(await readText(h, copy.id, "/etc/passwd")).toContain("root:x:0:0");
  });

  it("cluster mode: publishes the finished stack before completing; a failed publish fails the snapshot", async () => {
    const src = await h.sandboxes.create(P, {});
    await writeText(h, src.id, "/a.txt", "A");
    const seen: Array<{ status: string; layers: number; stored: string | undefined }> = [];
    h.snapshots.publish = async (s) => {
      // Called with the final stack while the record is still in progress: nothing is completed yet.
      seen.push({
        status: s.status,
        layers: s.layers.length,
        stored: (await h.stores.images.getSnapshot(s.id))?.status,
      });
    };
    const ok = await h.sandboxes.snapshot(P, src.id);
    expect(ok.status).toBe("completed");
    expect(seen).toEqual([{ status: "in_progress", layers: 1, stored: "in_progress" }]);

    h.snapshots.publish = () => Promise.reject(new SbxError("upstream_unreachable", "registry down"));
    await expect(h.sandboxes.snapshot(P, src.id)).rejects.toMatchObject({ code: "upstream_unreachable" });
    const failed = (await h.stores.images.listSnapshots(P)).filter((s) => s.id !== ok.id);
    expect(failed.map((s) => [s.status, s.error])).toEqual([["failed", "registry down"]]);
    // The sandbox runs on.
    expect(h.runtime.sandboxes.get(src.id)).toMatchObject({ running: true, frozen: false });
    expect(await readText(h, src.id, "/a.txt")).toBe("A");
  });

  it("stacks a snapshot of a restored sandbox on its parent's layers", async () => {
    const src = await h.sandboxes.create(P, {});
    await writeText(h, src.id, "/a.txt", "A");
    const first = await h.sandboxes.snapshot(P, src.id);
    const mid = await h.sandboxes.create(P, { snapshotId: first.id });
    await writeText(h, mid.id, "/b.txt", "B");
    const second = await h.sandboxes.snapshot(P, mid.id);
    expect(second.parentSnapshotId).toBe(first.id);
    expect(second.layers.map((l) => l.key)).toEqual([first.layers[0]!.key, expect.any(String)]);
    const last = await h.sandboxes.create(P, { snapshotId: second.id });
    expect([await readText(h, last.id, "/a.txt"), await readText(h, last.id, "/b.txt")]).toEqual(["A", "B"]);
  });

  it("registers a snapshot as an image that new sandboxes start from", async () => {
    const src = await h.sandboxes.create(P, {});
    await writeText(h, src.id, "/opt/tool", "v1");
    const snap = await h.sandboxes.snapshot(P, src.id);
    const img = await h.snapshots.registerImage(P, { name: "tooled" }, snap.id, false);
    expect(img).toMatchObject({ name: "tooled", tag: "latest", layers: snap.layers });
    const s = await h.sandboxes.create(P, { image: "tooled" });
    expect(s.image).toBe("tooled:latest");
    expect(await readText(h, s.id, "/opt/tool")).toBe("v1");
  });

  it("refuses memory snapshots on a runtime without them, before touching the sandbox", async () => {
    const src = await h.sandboxes.create(P, {});
    await expect(h.sandboxes.snapshot(P, src.id, { type: "memory" })).rejects.toMatchObject({
      code: "failed_precondition",
    });
    expect(h.runtime.calls).not.toContain(`exportLayer ${src.id}`);
    expect(await h.stores.images.listSnapshots(P)).toEqual([]);
  });

  it("records a failed capture as failed, and leaves no layer behind", async () => {
    const src = await h.sandboxes.create(P, {});
    await writeText(h, src.id, "/x", "x");
    h.runtime.failures.set("exportLayer", new SbxError("runtime_error", "freeze failed"));
    await expect(h.sandboxes.snapshot(P, src.id)).rejects.toThrow("freeze failed");
    const [rec] = await h.stores.images.listSnapshots(P);
    expect(rec).toMatchObject({ status: "failed", error: "freeze failed" });
    await expect(h.sandboxes.create(P, { snapshotId: rec!.id })).rejects.toMatchObject({
      code: "failed_precondition",
    });
    expect(await layerDirs()).toEqual([]);
    expect((await h.sandboxes.get(P, src.id)).status).toBe("running");
  });

  it("removes a snapshot's layers once no sandbox stands on them", async () => {
    const src = await h.sandboxes.create(P, {});
    await writeText(h, src.id, "/x", "x");
    const snap = await h.sandboxes.snapshot(P, src.id);
    const user = await h.sandboxes.create(P, { snapshotId: snap.id });
    await h.snapshots.remove(P, snap.id);
    await expect(h.snapshots.get(P, snap.id)).rejects.toMatchObject({ code: "not_found" });
    // A running sandbox still stands on the layer.
    expect(existsSync(snap.layers[0]!.dir)).toBe(true);
    await h.sandboxes.terminate(P, user.id);
    await eventually(() => !existsSync(snap.layers[0]!.dir));
    expect(await h.stores.images.listLayers()).toEqual([]);
  });

  it("scopes snapshots by project", async () => {
    const src = await h.sandboxes.create(P, {});
    const snap = await h.sandboxes.snapshot(P, src.id);
    await expect(h.snapshots.get("other", snap.id)).rejects.toMatchObject({ code: "not_found" });
    await expect(h.sandboxes.create("other", { snapshotId: snap.id })).rejects.toMatchObject({ code: "not_found" });
    expect(await h.snapshots.list("other")).toEqual([]);
  });

  it("fails snapshots a daemon died taking, at the next start", async () => {
    const src = await h.sandboxes.create(P, {});
    const snap = await h.sandboxes.snapshot(P, src.id);
    await h.stores.images.updateSnapshot(snap.id, { status: "in_progress" });
    h = await h.restart();
    expect(await h.snapshots.get(P, snap.id)).toMatchObject({ status: "failed" });
  });
});

// Suspend, resume and fork on the fake runtime: a suspended sandbox keeps its files in a snapshot
// and nothing on the host; a resume brings it back with the same id, name and files; a fork
// starts N copies of a running sandbox, all or nothing.
import { readdir } from "node:fs/promises";
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
const layerDirs = async (): Promise<string[]> => (await readdir(h.layerStore.root).catch(() => [])).sort();
const suspendSnapshots = async (sandbox: string) =>
  (await h.stores.images.listSnapshots(P)).filter((s) => s.forSuspend && s.sourceSandboxId === sandbox);

describe("suspend and resume", () => {
  it("suspends: files go into a snapshot, the sandbox and its processes leave the host", async () => {
    const events: string[] = [];
    h.events.on("suspended", (s) => void events.push(s.id));
    const s = await h.sandboxes.create(P, { name: "keep" });
    await writeText(h, "keep", "/work/state.txt", "step 1 done\n");
    const p = await h.processes.start(P, "keep", { command: "sleep", args: ["30"] });

    const suspended = await h.sandboxes.suspend(P, "keep");
    expect(suspended).toMatchObject({ id: s.id, status: "suspended", netSlot: null, ipAddress: null });
    expect(suspended.suspendSnapshotId).toEqual(expect.any(String));
    expect(h.runtime.sandboxes.has(s.id)).toBe(false);
    expect(events).toEqual([s.id]);
    expect(await h.processes.get(P, "keep", p.id)).toMatchObject({ status: "exited", exitCode: 137 });
    // The suspend snapshot is the sandbox's, nobody's to list; suspending again changes nothing.
    expect(await h.snapshots.list(P)).toEqual([]);
    expect(await h.sandboxes.suspend(P, "keep")).toEqual(suspended);
    await expect(h.sandboxes.getRunning(P, "keep")).rejects.toMatchObject({ code: "sandbox_not_running" });
  });

  it("resumes with the same id, name and files, on a new network slot", async () => {
    const s = await h.sandboxes.create(P, { name: "keep", env: { STAGE: "2" } });
    await writeText(h, "keep", "/work/state.txt", "step 1 done\n");
    const snapId = (await h.sandboxes.suspend(P, "keep")).suspendSnapshotId;
    // Its old slot went to someone else meanwhile.
    const other = await h.sandboxes.create(P, {});
    expect(other.netSlot).toBe(s.netSlot);

    const resumed = await h.sandboxes.resume(P, "keep");
    expect(resumed).toMatchObject({ id: s.id, name: "keep", status: "running", snapshotId: snapId });
    expect(resumed.suspendSnapshotId).toBeNull();
    expect(resumed.netSlot).not.toBe(other.netSlot);
    expect(h.runtime.sandboxes.get(s.id)!.spec).toMatchObject({ hostname: "keep", netSlot: resumed.netSlot });
    expect(h.runtime.sandboxes.get(s.id)!.spec.env).toContain("STAGE=2");
    expect(await readText(h, "keep", "/work/state.txt")).toBe("step 1 done\n");
    // Resuming a running sandbox is a no-op.
    expect((await h.sandboxes.resume(P, "keep")).id).toBe(s.id);
  });

  it("keeps one suspend snapshot per sandbox across suspends, with every file", async () => {
    await h.sandboxes.create(P, { name: "keep" });
    const id = (await h.sandboxes.get(P, "keep")).id;
    await writeText(h, "keep", "/one", "1");
    await h.sandboxes.suspend(P, "keep");
    await h.sandboxes.resume(P, "keep");
    await writeText(h, "keep", "/two", "2");
    await h.sandboxes.suspend(P, "keep");
    await h.sandboxes.resume(P, "keep");
    expect([await readText(h, "keep", "/one"), await readText(h, "keep", "/two")]).toEqual(["1", "2"]);
    // The first suspend snapshot was superseded by the second, which stacks on its layer.
    expect(await suspendSnapshots(id)).toHaveLength(1);
  });

  it("terminating a suspended sandbox removes its snapshot and layers", async () => {
    const s = await h.sandboxes.create(P, { name: "keep" });
    await writeText(h, "keep", "/x", "x");
    await h.sandboxes.suspend(P, "keep");
    expect(await layerDirs()).toHaveLength(1);
    expect(await h.sandboxes.terminate(P, "keep")).toMatchObject({ status: "terminated" });
    expect(await suspendSnapshots(s.id)).toEqual([]);
    await eventually(async () => (await layerDirs()).length === 0);
  });

  it("stays suspended when the restart fails, and resumes later", async () => {
    await h.sandboxes.create(P, { name: "keep" });
    await writeText(h, "keep", "/x", "kept");
    await h.sandboxes.suspend(P, "keep");
    h.runtime.failures.set("create", new SbxError("runtime_error", "no room"));
    await expect(h.sandboxes.resume(P, "keep")).rejects.toThrow("no room");
    expect(await h.sandboxes.get(P, "keep")).toMatchObject({ status: "suspended", netSlot: null });
    await h.sandboxes.resume(P, "keep");
    expect(await readText(h, "keep", "/x")).toBe("kept");
  });
});

describe("fork", () => {
  it("starts N copies of a running sandbox with its files, limits and env", async () => {
    const src = await h.sandboxes.create(P, { cpus: 2, memoryMb: 512, env: { ROLE: "worker" } });
    await writeText(h, src.id, "/data/input", "shared");
    const copies = await h.sandboxes.fork(P, src.id, 3);
    expect(copies).toHaveLength(3);
    expect(new Set(copies.map((c) => c.id)).size).toBe(3);
    expect(new Set(copies.map((c) => c.netSlot)).size).toBe(3);
    for (const c of copies) {
      expect(c).toMatchObject({ status: "running", cpus: 2, memoryMb: 512, env: { ROLE: "worker" } });
      expect(await readText(h, c.id, "/data/input")).toBe("shared");
    }
    // The copies are independent of each other and of the source.
    await writeText(h, copies[0]!.id, "/data/input", "changed");
    expect(await readText(h, copies[1]!.id, "/data/input")).toBe("shared");
    expect(await readText(h, src.id, "/data/input")).toBe("shared");
  });

  it("is all or nothing: when one copy cannot start, the others are terminated", async () => {
    const src = await h.sandboxes.create(P, {});
    h.runtime.failures.set("create", new SbxError("runtime_error", "one too many"));
    await expect(h.sandboxes.fork(P, src.id, 3)).rejects.toThrow("one too many");
    expect((await h.sandboxes.list(P, false)).map((s) => s.id)).toEqual([src.id]);
    expect([...h.runtime.sandboxes.keys()]).toEqual([src.id]);
  });

  it("refuses a count outside 1..50", async () => {
    const src = await h.sandboxes.create(P, {});
    for (const n of [0, 51, 1.5])
      await expect(h.sandboxes.fork(P, src.id, n)).rejects.toMatchObject({ code: "out_of_range" });
    expect(await h.snapshots.list(P)).toEqual([]);
  });
});

// VolumeService on the fake runtime, wired as the daemon wires it: what a create with volumes hands
// the runtime and records, the one-writer rule against running and suspended holders, removal only
// when nothing holds it, forks, and the reconcile pass at start.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SbxError } from "@sbx-sh/protocol";
import { startServices, type ServiceHarness } from "./testing/service-harness.js";

let h: ServiceHarness;
beforeEach(async () => {
  h = await startServices();
});
afterEach(async () => {
  await h.close();
});

const P = "default";
async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    return err instanceof SbxError ? err.code : String(err);
  }
  return undefined;
}

describe("VolumeService", () => {
  it("creates a disk per volume and lists it; a taken name or a bad size makes no disk", async () => {
    const v = await h.volumes.create(P, "data", 64);
    expect(v.volume).toMatchObject({ project: P, name: "data", sizeMb: 64 });
    expect(h.runtime.volumes.disks.get(v.volume.id)).toMatchObject({ sizeMb: 64 });
    expect(await codeOf(h.volumes.create(P, "data", 64))).toBe("already_exists");
    expect(await codeOf(h.volumes.create(P, "small", 8))).toBe("out_of_range");
    expect(await codeOf(h.volumes.create(P, "Bad!", 64))).toBe("invalid_name");
    expect(h.runtime.volumes.disks.size).toBe(1);
    expect((await h.volumes.list(P)).map((x) => x.volume.name)).toEqual(["data"]);
    expect(await codeOf(h.volumes.get("team-x", "data"))).toBe("volume_not_found");
  });

  it("mounts volumes at create, one writer at a time, and refuses a second writer without creating anything", async () => {
    const v = await h.volumes.create(P, "data", 64);
    const w = await h.sandboxes.create(P, { allowInternetAccess: false, volumes: [{ name: "data", path: "/data" }] });
    expect(w.volumes).toEqual([{ name: "data", volumeId: v.volume.id, path: "/data", readOnly: false }]);
    expect(h.runtime.sandboxes.get(w.id)!.spec.volumes).toEqual([
      { volumeId: v.volume.id, path: "/data", readOnly: false },
    ]);
    const before = h.runtime.calls.length;
    const count = (await h.sandboxes.list(P, true)).length;
    expect(
      await codeOf(h.sandboxes.create(P, { allowInternetAccess: false, volumes: [{ name: "data", path: "/d" }] })),
    ).toBe("volume_in_use");
    expect(h.runtime.calls.length).toBe(before);
    expect((await h.sandboxes.list(P, true)).length).toBe(count);
    const r = await h.sandboxes.create(P, {
      allowInternetAccess: false,
      volumes: [{ name: "data", path: "/d", readOnly: true }],
    });
    expect((await h.volumes.get(P, "data")).holders.map((x) => x.sb.id).sort()).toEqual([w.id, r.id].sort());
    expect(await codeOf(h.volumes.remove(P, "data"))).toBe("volume_in_use");
    await h.sandboxes.terminate(P, w.id);
    // The writer gone, another may write.
    const w2 = await h.sandboxes.create(P, { allowInternetAccess: false, volumes: [{ name: "data", path: "/d" }] });
    await h.sandboxes.terminate(P, w2.id);
    await h.sandboxes.terminate(P, r.id);
    await h.volumes.remove(P, "data");
    expect(h.runtime.volumes.disks.size).toBe(0);
    expect(await codeOf(h.volumes.remove(P, "data"))).toBe("volume_not_found");
  });

  it("counts a suspended sandbox as a holder, and resume mounts its volumes again", async () => {
    const v = await h.volumes.create(P, "data", 64);
    const s = await h.sandboxes.create(P, { name: "dev", volumes: [{ name: "data", path: "/data" }] });
    await h.sandboxes.suspend(P, "dev");
    expect(h.runtime.sandboxes.has(s.id)).toBe(false);
    expect(await codeOf(h.volumes.remove(P, "data"))).toBe("volume_in_use");
    expect(await codeOf(h.sandboxes.create(P, { volumes: [{ name: "data", path: "/data" }] }))).toBe("volume_in_use");
    await h.sandboxes.resume(P, "dev");
    expect(h.runtime.sandboxes.get(s.id)!.spec.volumes).toEqual([
      { volumeId: v.volume.id, path: "/data", readOnly: false },
    ]);
  });

  it("forks a read-only holder with the volume read-only and refuses to fork a read-write one", async () => {
    await h.volumes.create(P, "data", 64);
    const rw = await h.sandboxes.create(P, { allowInternetAccess: false, volumes: [{ name: "data", path: "/w" }] });
    expect(await codeOf(h.sandboxes.fork(P, rw.id, 2))).toBe("volume_in_use");
    const ro = await h.sandboxes.create(P, {
      allowInternetAccess: false,
      volumes: [{ name: "data", path: "/r", readOnly: true }],
    });
    const copies = await h.sandboxes.fork(P, ro.id, 2);
    for (const c of copies) expect(c.volumes).toMatchObject([{ name: "data", path: "/r", readOnly: true }]);
  });

  it("scopes volumes to their project, which cannot be deleted while it has any", async () => {
    await h.projects.create("team-x");
    await h.volumes.create("team-x", "data", 64);
    expect(await codeOf(h.volumes.get(P, "data"))).toBe("volume_not_found");
    expect(await codeOf(h.sandboxes.create(P, { volumes: [{ name: "data", path: "/d" }] }))).toBe("volume_not_found");
    expect(await codeOf(h.projects.delete("team-x", P))).toBe("failed_precondition");
    await h.volumes.remove("team-x", "data");
    await h.projects.delete("team-x", P);
  });

  it("at start removes disks no volume names and reports the ones whose disk is gone", async () => {
    const v = await h.volumes.create(P, "data", 64);
    h.runtime.volumes.disks.set("vol-orphan", { sizeMb: 16, usedBytes: 0 });
    await h.volumes.reconcile();
    expect([...h.runtime.volumes.disks.keys()]).toEqual([v.volume.id]);
    h.runtime.volumes.disks.clear();
    await h.volumes.reconcile();
    expect(h.warnings.join("\n")).toContain("volumes whose disk is missing");
  });
});

// ImageGc with SQLite stores and a real layer store: a layer stays while a live image, a snapshot,
// a sandbox that is not terminated or a build in progress stands on it; everything else goes,
// rows and directories; the start-up sweep removes directories no row names.
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Step } from "@sbx-sh/protocol";
import type { ImageLayerRef, ImageRecord, SandboxRecord, SnapshotRecord } from "../domain/records.js";
import { writeTar } from "../runtime/testing/memory-tar.js";
import { eventually, startServices, type ServiceHarness } from "./testing/service-harness.js";

let h: ServiceHarness;
beforeEach(async () => {
  h = await startServices();
});
afterEach(async () => {
  await h.close();
});

const P = "default";
const now = new Date().toISOString();
const CONFIG = { env: [], workingDir: "/", user: "root", entrypoint: null, cmd: null, systemd: false };
let n = 0;

/** A committed layer with its row, as a build step or snapshot leaves it. */
async function layer(): Promise<ImageLayerRef> {
  const key = "sha256:" + createHash("sha256").update(`layer ${++n}`).digest("hex");
  const tar = writeTar([{ name: `file${n}`, type: "file", data: Buffer.from("x".repeat(n)) }]);
  const made = await h.layerStore.commit({ kind: "tar", stream: Readable.from([tar]) }, key);
  const ref = { ...made, step: `RUN step ${n}`, cached: false };
  await h.stores.images.putLayer({ ...ref, createdAt: now });
  return ref;
}

async function image(name: string, layers: ImageLayerRef[], deleted = false): Promise<ImageRecord> {
  const img: ImageRecord = {
    ...{ ref: `img-${name}`, id: `sha256:${name}`, project: P, name, tag: "latest", baseImage: "fake-base" },
    ...{ baseId: "sha256:base", baseDir: "/fake/layers/base", layers, config: CONFIG, sizeBytes: 1 },
    ...{ buildId: null, createdAt: now, deletedAt: null },
  };
  await h.stores.images.registerImage(img, false);
  if (deleted) await h.stores.images.markImageDeleted(img.ref);
  return img;
}

async function snapshot(id: string, layers: ImageLayerRef[], status: SnapshotRecord["status"]): Promise<void> {
  await h.stores.images.insertSnapshot({
    ...{ id, project: P, type: "filesystem", status, sourceSandboxId: "sb-x", sourceImage: "fake-base" },
    ...{ sourceImageId: "sha256:base", parentSnapshotId: null, forSuspend: false, layers },
    ...{ baseDir: "/fake/layers/base", baseImage: "fake-base", config: CONFIG, sizeBytes: 1, error: null },
    ...{ createdAt: now, completedAt: null },
  });
}

async function sandbox(id: string, status: SandboxRecord["status"], imageId: string, lowers: string[]) {
  await h.stores.meta.insertSandbox({
    ...{ id, project: P, name: null, image: "x", imageId, status, cpus: 1, memoryMb: 64, pidsLimit: 64 },
    ...{ diskMb: 64, timeoutSecs: 0, allowInternetAccess: false, env: {}, netSlot: null, ipAddress: null },
    ...{ config: { env: [], workingDir: "/", user: "root" }, lowers, createdAt: now, startedAt: now },
    ...{ terminatedAt: null, terminationReason: null },
  });
}

describe("ImageGc", () => {
  it("keeps what images, snapshots, live sandboxes and builds stand on, and removes the rest", async () => {
    const kept = { live: await layer(), deletedInUse: await layer(), snap: await layer() };
    const more = { running: await layer(), suspended: await layer(), building: await layer() };
    const gone = { deleted: await layer(), failedSnap: await layer(), terminated: await layer(), loose: await layer() };
    await image("live", [kept.live]);
    const usedDeleted = await image("used", [kept.deletedInUse], true);
    await image("unused", [gone.deleted], true);
    await snapshot("snap-ok", [kept.snap], "completed");
    await snapshot("snap-bad", [gone.failedSnap], "failed");
    await sandbox("sb-run", "running", usedDeleted.id, [more.running.dir]);
    await sandbox("sb-susp", "suspended", "sha256:other", [more.suspended.dir]);
    await sandbox("sb-term", "terminated", "sha256:other", [gone.terminated.dir]);
    h.inUse.add(() => [more.building.key]);
    // A config step's cache row chained from the base has no layer to go with: it stays.
    await h.stores.images.putLayer({
      key: "sha256:env",
      digest: null,
      dir: null,
      sizeBytes: 0,
      step: "ENV",
      createdAt: now,
      parent: "base:sha256:base",
    });

    const r = await h.gc.collect();
    const removed = Object.values(gone);
    expect(r).toEqual({ images: 1, layers: 4, bytes: removed.reduce((a, l) => a + l.sizeBytes, 0) });
    for (const l of [...Object.values(kept), ...Object.values(more)]) expect(existsSync(l.dir)).toBe(true);
    for (const l of removed) expect(existsSync(l.dir)).toBe(false);
    const rows = (await h.stores.images.listLayers()).map((l) => l.key).sort();
    expect(rows).toEqual(
      [...Object.values(kept), ...Object.values(more)]
        .map((l) => l.key)
        .concat("sha256:env")
        .sort(),
    );
    expect((await h.stores.images.listAllImages()).map((i) => i.name).sort()).toEqual(["live", "used"]);
    // Nothing left to do.
    expect(await h.gc.collect()).toEqual({ images: 0, layers: 0, bytes: 0 });
  });

  it("sweeps layer directories no row names at start, and leaves other files alone", async () => {
    const listed = await layer();
    await image("app", [listed]);
    const stray = join(h.layerStore.root, "l" + "ab".repeat(10));
    const half = `${join(h.layerStore.root, "l" + "cd".repeat(10))}.tmp-0123abcd`;
    const other = join(h.layerStore.root, "notes");
    for (const d of [stray, half, other]) await mkdir(d, { recursive: true });
    const r = await h.gc.reconcile();
    expect(r.swept.sort()).toEqual(["l" + "ab".repeat(10), `l${"cd".repeat(10)}.tmp-0123abcd`]);
    expect([existsSync(stray), existsSync(half), existsSync(other), existsSync(listed.dir)]).toEqual([
      false,
      false,
      true,
      true,
    ]);
  });

  it("keeps a removed image's layers while a sandbox runs on it, and collects them after", async () => {
    const l = await layer();
    await image("app", [l]);
    const s = await h.sandboxes.create(P, { image: "app" });
    await h.images.remove(P, "app");
    await h.gc.collect();
    expect(existsSync(l.dir)).toBe(true);
    await h.sandboxes.terminate(P, s.id);
    // The end of a sandbox starts a collection.
    await eventually(() => !existsSync(l.dir));
    expect(await h.stores.images.listAllImages()).toEqual([]);
  });

  it("after a rebuild repointed a step: collects the older layer once no image names it, then the newer", async () => {
    const older = await layer();
    const newer = await layer();
    // A --no-cache --replace rebuild: the step's newest layer is under a key of its own.
    await image("v1", [older], true);
    await image("v2", [newer]);
    await h.stores.images.pointStep(older.key, newer.key);
    expect(await h.gc.collect()).toEqual({ images: 1, layers: 1, bytes: older.sizeBytes });
    expect([existsSync(older.dir), existsSync(newer.dir)]).toEqual([false, true]);
    expect(await h.stores.images.getStepLayer(older.key)).toMatchObject({ key: newer.key, dir: newer.dir });
    // Its image removed, the newer one goes too, and the step cache gives nothing (never a missing dir).
    await h.images.remove(P, "v2");
    await h.gc.collect();
    expect(existsSync(newer.dir)).toBe(false);
    expect(await h.stores.images.getStepLayer(older.key)).toBeUndefined();
    expect(await h.stores.images.listLayers()).toEqual([]);
  });

  it("bounds the step cache over --no-cache rebuilds: a config step's row goes with the layer it chains from", async () => {
    const steps: Step[] = [
      { op: "run", command: "echo one > /one" },
      { op: "env", key: "A", value: "1" },
      { op: "user", user: "nobody" },
      { op: "run", command: "echo two > /two" },
    ];
    const build = async (noCache: boolean): Promise<boolean[]> => {
      const definition = { name: "app", baseImage: "fake-base", steps };
      const b = await h.builds.create(P, { definition, noCache, replace: true });
      const cached: boolean[] = [];
      for await (const ev of h.builds.events(P, b.id, true)) if (ev.type === "step") cached.push(ev.cached);
      return cached;
    };
    await build(false);
    // Each rebuild's step 1 gets a key of its own (the image before holds its key's layer), and so
    // do the config steps chained from it: rows that no build can reach once that layer is gone.
    for (let i = 0; i < 4; i++) await build(true);
    // (A build holds its keys until it has wound up, a little after its last event.)
    await eventually(() => h.builds.buildingKeys().size === 0);
    await h.gc.collect();
    const rows = await h.stores.images.listLayers();
    expect(rows.filter((l) => l.dir === null).map((l) => l.step)).toEqual(["ENV A=1", "USER nobody"]);
    expect(rows.filter((l) => l.dir !== null)).toHaveLength(2);
    // What the live image's cache hits need is all there.
    expect(await build(false)).toEqual([true, true, true, true]);
  });

  it("keeps the layers a build in progress has made", async () => {
    const b = await h.builds.create(P, {
      definition: {
        name: "slow",
        baseImage: "fake-base",
        steps: [
          { op: "run", command: "echo one > /one" },
          { op: "run", command: "sleep 30" },
        ],
      },
    });
    await eventually(async () => (await h.stores.images.listLayers()).length === 1);
    const [first] = await h.stores.images.listLayers();
    await eventually(() => [...h.runtime.sandboxes.keys()].some((id) => id.startsWith("bld")));
    await h.gc.collect();
    expect(existsSync(first!.dir!)).toBe(true);
    await h.builds.cancel(P, b.id);
    for await (const _ of h.builds.events(P, b.id, true));
    // A cancelled build's finished steps then stay as build cache, for the retry (build-cache-keep.ts).
    await h.gc.collect();
    expect(existsSync(first!.dir!)).toBe(true);
  });
});

// Conformance suite for ImageStore: builds, the step cache and image registrations. Run against
// every implementation (SQLite now).
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SbxError } from "@sbx-sh/protocol";
import type { ImageStore, Stores } from "./store.js";
import type { BuildRecord, ImageRecord, TemplateBuildRecord } from "../domain/records.js";

function build(id: string, patch: Partial<BuildRecord> = {}): BuildRecord {
  return {
    id,
    project: "default",
    imageName: "app",
    tag: "latest",
    state: "queued",
    steps: 2,
    imageId: null,
    failure: null,
    createdAt: `2026-01-01T00:00:0${id.slice(-1)}.000Z`,
    startedAt: null,
    endedAt: null,
    ...patch,
  };
}

/** An image record for store tests: one layer, registered as default/app:latest unless `patch` says otherwise. */
export function image(ref: string, patch: Partial<ImageRecord> = {}): ImageRecord {
  return {
    ref,
    id: `sha256:${ref}`,
    project: "default",
    name: "app",
    tag: "latest",
    baseImage: "debian-minimal",
    baseId: "sha256:base",
    baseDir: "/base",
    layers: [
      {
        key: `k-${ref}`,
        digest: `sha256:l-${ref}`,
        dir: `/layers/${ref}`,
        sizeBytes: 10,
        step: "RUN x",
        cached: false,
      },
    ],
    config: { env: ["A=1"], workingDir: "/", user: "root", entrypoint: null, cmd: null, systemd: false },
    sizeBytes: 10,
    buildId: null,
    createdAt: "2026-01-01T00:00:00.000Z",
    deletedAt: null,
    ...patch,
  };
}

/** `open` gives fresh, empty stores; the suite closes them. */
export function imageStoreConformance(name: string, open: () => Promise<Stores>): void {
  describe(`ImageStore conformance: ${name}`, () => {
    let stores: Stores;
    let s: ImageStore;
    beforeEach(async () => {
      stores = await open();
      s = stores.images;
    });
    afterEach(() => stores.close());

    it("keeps builds, merges patches and lists them newest first per project", async () => {
      await s.insertBuild(build("b1"));
      await s.insertBuild(build("b2"));
      await s.insertBuild(build("b3", { project: "other" }));
      await s.updateBuild("b1", {
        state: "failed",
        failure: {
          step: 2,
          text: "RUN false",
          source: { file: "image.ts", line: 3 },
          exitCode: 1,
          message: "m",
          lastLines: ["x"],
        },
      });
      expect(await s.getBuild("b1")).toMatchObject({
        state: "failed",
        imageName: "app",
        failure: { step: 2, exitCode: 1 },
      });
      expect((await s.listBuilds("default")).map((b) => b.id)).toEqual(["b2", "b1"]);
      expect((await s.listBuildsInState(["queued"])).map((b) => b.id).sort()).toEqual(["b2", "b3"]);
    });

    it("keeps Tensorlake template builds, merges patches and lists them by state", async () => {
      const tb = (id: string, patch: Partial<TemplateBuildRecord> = {}): TemplateBuildRecord => ({
        id,
        project: "default",
        name: "tmpl",
        state: "prepared",
        imageId: null,
        failure: null,
        createdAt: `2026-01-01T00:00:0${id.slice(-1)}.000Z`,
        endedAt: null,
        ...patch,
      });
      await s.insertTemplateBuild(tb("t1"));
      await s.insertTemplateBuild(tb("t2", { state: "building" }));
      await s.insertTemplateBuild(tb("t3", { state: "succeeded", imageId: "sha256:i" }));
      await expect(s.insertTemplateBuild(tb("t1"))).rejects.toThrow();
      await s.updateTemplateBuild("t2", { state: "failed", failure: "daemon restarted", endedAt: "e" });
      await s.updateTemplateBuild("missing", { state: "failed" });
      expect(await s.getTemplateBuild("t2")).toMatchObject({
        name: "tmpl",
        state: "failed",
        failure: "daemon restarted",
      });
      expect(await s.getTemplateBuild("missing")).toBeUndefined();
      expect((await s.listTemplateBuildsInState(["prepared", "building"])).map((b) => b.id)).toEqual(["t1"]);
      expect((await s.listTemplateBuildsInState(["succeeded", "failed"])).map((b) => b.id)).toEqual(["t2", "t3"]);
    });

    it("caches steps by key, with or without a layer", async () => {
      await s.putLayer({ key: "k1", digest: "sha256:d", dir: "/l/1", sizeBytes: 5, step: "RUN a", createdAt: "t" });
      // A config step's row names the key it chains from, which garbage collection follows.
      const config = { digest: null, dir: null, sizeBytes: 0, step: "ENV A=1", createdAt: "t" };
      await s.putLayer({ key: "k2", ...config, parent: "k1" });
      await s.putLayer({ key: "k3", ...config, parent: "k2" });
      expect(await s.getLayer("k1")).toMatchObject({ dir: "/l/1", digest: "sha256:d" });
      expect(await s.getLayer("k2")).toMatchObject({ dir: null, parent: "k1" });
      expect(await s.getStepLayer("k3")).toMatchObject({ key: "k3", parent: "k2" });
      expect((await s.listLayers()).map((l) => [l.key, l.parent]).sort()).toEqual([
        ["k1", undefined],
        ["k2", "k1"],
        ["k3", "k2"],
      ]);
      await s.deleteLayer("k1");
      expect(await s.getLayer("k1")).toBeUndefined();
      // Each row goes on its own: the ones chained from it are the collector's to decide.
      expect((await s.listLayers()).map((l) => l.key).sort()).toEqual(["k2", "k3"]);
    });

    it("gives the newest build of a step: a pointer to a layer of its own, dropped with that layer", async () => {
      const layer = (key: string, dir: string) => ({
        key,
        digest: "sha256:d",
        dir,
        sizeBytes: 1,
        step: "RUN a",
        createdAt: "t",
      });
      await s.putLayer(layer("s1", "/l/old"));
      expect((await s.getStepLayer("s1"))?.dir).toBe("/l/old");
      expect(await s.getStepLayer("s2")).toBeUndefined();
      // A rebuild committed under a key of its own: the step now gives that layer; the old row stays.
      await s.putLayer(layer("f1", "/l/new"));
      await s.pointStep("s1", "f1");
      expect(await s.getStepLayer("s1")).toMatchObject({ key: "f1", dir: "/l/new" });
      expect((await s.getLayer("s1"))?.dir).toBe("/l/old");
      await s.putLayer(layer("f2", "/l/newer"));
      await s.pointStep("s1", "f2");
      expect((await s.getStepLayer("s1"))?.key).toBe("f2");
      // Collecting the pointed-at layer drops the pointer: the step's own row again (an older build
      // an image still names), never a layer that is gone.
      await s.deleteLayer("f2");
      expect((await s.getStepLayer("s1"))?.key).toBe("s1");
      await s.pointStep("s1", "f1");
      // Collecting the step's own row leaves its pointer.
      await s.deleteLayer("s1");
      expect((await s.getStepLayer("s1"))?.key).toBe("f1");
      // The step's own key again: any pointer goes.
      await s.putLayer(layer("s1", "/l/again"));
      await s.pointStep("s1", "s1");
      expect(await s.getStepLayer("s1")).toMatchObject({ key: "s1", dir: "/l/again" });
      await s.deleteLayer("s1");
      expect(await s.getStepLayer("s1")).toBeUndefined();
      expect((await s.getLayer("f1"))?.dir).toBe("/l/new");
    });

    it("registers one live image per project, name and tag; replace keeps the old one as deleted", async () => {
      await s.registerImage(image("i1"), false);
      await expect(s.registerImage(image("i2"), false)).rejects.toThrow(SbxError);
      await s.registerImage(image("i3", { project: "other" }), false);
      await s.registerImage(image("i4", { tag: "v2" }), false);
      expect((await s.findImage("default", "app", "latest"))?.ref).toBe("i1");
      await s.registerImage(image("i5"), true);
      expect((await s.findImage("default", "app", "latest"))?.ref).toBe("i5");
      expect((await s.listAllImages()).find((i) => i.ref === "i1")?.deletedAt).not.toBeNull();
      expect((await s.listImages("default")).map((i) => i.ref).sort()).toEqual(["i4", "i5"]);
      expect((await s.listImages("other")).map((i) => i.ref)).toEqual(["i3"]);
    });

    it("marks deleted, then deletes, and a deleted name can be registered again", async () => {
      await s.registerImage(image("i1"), false);
      await s.markImageDeleted("i1");
      expect(await s.findImage("default", "app", "latest")).toBeUndefined();
      expect((await s.listAllImages()).map((i) => i.ref)).toEqual(["i1"]);
      await s.registerImage(image("i2"), false);
      await s.deleteImage("i1");
      expect((await s.listAllImages()).map((i) => i.ref)).toEqual(["i2"]);
    });
  });
}

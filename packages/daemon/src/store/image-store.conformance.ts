// Conformance suite for ImageStore: builds, the step cache and image registrations. Run against
// every implementation (SQLite now).
import { describe, expect, it } from "vitest";
import { SbxError } from "@sbx-sh/protocol";
import type { BuildRecord, ImageRecord, ImageStore } from "./store.js";

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

function image(ref: string, patch: Partial<ImageRecord> = {}): ImageRecord {
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

export function imageStoreConformance(name: string, make: () => ImageStore): void {
  describe(`ImageStore conformance: ${name}`, () => {
    it("keeps builds, merges patches and lists them newest first per project", () => {
      const s = make();
      s.insertBuild(build("b1"));
      s.insertBuild(build("b2"));
      s.insertBuild(build("b3", { project: "other" }));
      s.updateBuild("b1", {
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
      expect(s.getBuild("b1")).toMatchObject({ state: "failed", imageName: "app", failure: { step: 2, exitCode: 1 } });
      expect(s.listBuilds("default").map((b) => b.id)).toEqual(["b2", "b1"]);
      expect(
        s
          .listBuildsInState(["queued"])
          .map((b) => b.id)
          .sort(),
      ).toEqual(["b2", "b3"]);
    });

    it("caches steps by key, with or without a layer", () => {
      const s = make();
      s.putLayer({ key: "k1", digest: "sha256:d", dir: "/l/1", sizeBytes: 5, step: "RUN a", createdAt: "t" });
      s.putLayer({ key: "k2", digest: null, dir: null, sizeBytes: 0, step: "ENV A=1", createdAt: "t" });
      expect(s.getLayer("k1")).toMatchObject({ dir: "/l/1", digest: "sha256:d" });
      expect(s.getLayer("k2")?.dir).toBeNull();
      expect(
        s
          .listLayers()
          .map((l) => l.key)
          .sort(),
      ).toEqual(["k1", "k2"]);
      s.deleteLayer("k1");
      expect(s.getLayer("k1")).toBeUndefined();
    });

    it("registers one live image per project, name and tag; replace keeps the old one as deleted", () => {
      const s = make();
      s.registerImage(image("i1"), false);
      expect(() => s.registerImage(image("i2"), false)).toThrow(SbxError);
      s.registerImage(image("i3", { project: "other" }), false);
      s.registerImage(image("i4", { tag: "v2" }), false);
      expect(s.findImage("default", "app", "latest")?.ref).toBe("i1");
      s.registerImage(image("i5"), true);
      expect(s.findImage("default", "app", "latest")?.ref).toBe("i5");
      expect(s.listAllImages().find((i) => i.ref === "i1")?.deletedAt).not.toBeNull();
      expect(
        s
          .listImages("default")
          .map((i) => i.ref)
          .sort(),
      ).toEqual(["i4", "i5"]);
      expect(s.listImages("other").map((i) => i.ref)).toEqual(["i3"]);
    });

    it("marks deleted, then deletes, and a deleted name can be registered again", () => {
      const s = make();
      s.registerImage(image("i1"), false);
      s.markImageDeleted("i1");
      expect(s.findImage("default", "app", "latest")).toBeUndefined();
      expect(s.listAllImages().map((i) => i.ref)).toEqual(["i1"]);
      s.registerImage(image("i2"), false);
      s.deleteImage("i1");
      expect(s.listAllImages().map((i) => i.ref)).toEqual(["i2"]);
    });
  });
}

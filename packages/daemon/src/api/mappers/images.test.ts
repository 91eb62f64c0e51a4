// Unit tests of the image and build mappers, and of their answer for build logs written before
// the domain events (which hold the wire's image description where a record now is).
import { describe, expect, it } from "vitest";
import type { ImageInfo } from "@sbx-sh/protocol";
import type { ImageRecord } from "../../domain/records.js";
import { toBaseImage, toBuildEvent, toImage } from "./images.js";

const record: ImageRecord = {
  ref: "img-1",
  id: "sha256:abc",
  project: "default",
  name: "web",
  tag: "latest",
  baseImage: "debian-minimal",
  baseId: "sha256:base",
  baseDir: "/var/lib/sbx/layers/base",
  layers: [
    { key: "k1", digest: "sha256:l1", dir: "/var/lib/sbx/layers/l1", sizeBytes: 10, step: "run x", cached: false },
  ],
  config: { env: ["A=1"], workingDir: "/", user: "root", entrypoint: null, cmd: null, systemd: false },
  sizeBytes: 110,
  buildId: "bld-1",
  createdAt: "2024-01-01T00:00:00.000Z",
  deletedAt: null,
};

describe("image mappers", () => {
  it("describes a built image without host paths", () => {
    const info = toImage(record);
    expect(info).toMatchObject({ kind: "built", isolation: "userns", project: "default", baseImage: "debian-minimal" });
    expect(JSON.stringify(info)).not.toContain("/var/lib/sbx");
    expect(info.layers).toEqual([{ key: "k1", digest: "sha256:l1", sizeBytes: 10, step: "run x", cached: false }]);
  });

  it("describes a base image as one cached layer, shared by every project", () => {
    const info = toBaseImage({
      name: "debian-systemd",
      digest: "sha256:d",
      sizeBytes: 5,
      config: { ...record.config, systemd: true },
    });
    expect(info).toMatchObject({ kind: "base", project: null, tag: "latest", isolation: "host-ids", createdAt: "" });
    expect(info.layers).toEqual([
      { digest: "sha256:d", key: "base:sha256:d", sizeBytes: 5, step: "base image debian-systemd", cached: true },
    ]);
  });

  it("a log line of an older daemon (the wire's image under done.image) maps to the same answer", () => {
    const wire: ImageInfo = toImage(record);
    const build = {
      id: "bld-1",
      project: "default",
      imageName: "web",
      tag: "latest",
      state: "succeeded" as const,
      steps: 1,
      imageId: "sha256:abc",
      failure: null,
      createdAt: "t",
      startedAt: "t",
      endedAt: "t",
    };
    const old = JSON.parse(JSON.stringify({ type: "done", build, image: wire }));
    expect(toBuildEvent(old)).toEqual({ type: "done", build, image: wire });
  });
});

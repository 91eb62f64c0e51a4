// Images and builds as the API describes them: base and built images in one shape (layers without
// their dirs, the isolation their sandboxes get), build records, and build events.
import type { BuildEvent as WireBuildEvent, BuildInfo, ImageInfo } from "@sbx-sh/protocol";
import type { BuildEvent } from "../../domain/build-events.js";
import type { BaseImageRecord, BuildRecord, ImageEntry, ImageRecord } from "../../domain/records.js";

/** systemd images run without a user namespace (ids inside are host ids). */
function isolation(config: { systemd: boolean }): string {
  return config.systemd ? "host-ids" : "userns";
}

export function toImage(i: ImageRecord): ImageInfo {
  return {
    name: i.name,
    tag: i.tag,
    id: i.id,
    project: i.project,
    kind: "built",
    baseImage: i.baseImage,
    sizeBytes: i.sizeBytes,
    layers: i.layers.map((l) => ({
      digest: l.digest,
      key: l.key,
      sizeBytes: l.sizeBytes,
      step: l.step,
      cached: l.cached,
    })),
    config: i.config,
    buildId: i.buildId,
    isolation: isolation(i.config),
    createdAt: i.createdAt,
  };
}

/** A base image: one layer (its rootfs), shared by every project. */
export function toBaseImage(b: BaseImageRecord): ImageInfo {
  return {
    name: b.name,
    tag: "latest",
    id: b.digest,
    project: null,
    kind: "base",
    baseImage: null,
    sizeBytes: b.sizeBytes,
    layers: [
      {
        digest: b.digest,
        key: `base:${b.digest}`,
        sizeBytes: b.sizeBytes,
        step: `base image ${b.name}`,
        cached: true,
      },
    ],
    config: b.config,
    buildId: null,
    isolation: isolation(b.config),
    createdAt: "",
  };
}

export function toImageEntry(e: ImageEntry): ImageInfo {
  return e.kind === "base" ? toBaseImage(e.base) : toImage(e.image);
}

export function toBuild(b: BuildRecord): BuildInfo {
  return {
    id: b.id,
    project: b.project,
    imageName: b.imageName,
    tag: b.tag,
    state: b.state,
    steps: b.steps,
    imageId: b.imageId,
    failure: b.failure,
    createdAt: b.createdAt,
    startedAt: b.startedAt,
    endedAt: b.endedAt,
  };
}

export function toBuildEvent(ev: BuildEvent): WireBuildEvent {
  switch (ev.type) {
    case "build":
      return { type: "build", build: toBuild(ev.build) };
    case "done":
      return { type: "done", build: toBuild(ev.build), image: ev.image && toImage(ev.image) };
    default:
      return ev;
  }
}

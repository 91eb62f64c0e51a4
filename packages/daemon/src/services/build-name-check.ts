// A build's name clash, found before its first step runs instead of after the whole build: the
// name:tag is free, or points at the very image this build would register (an unchanged rebuild,
// which is not a conflict), or the build is refused with already_exists. Whether it would be the
// same image is answered by a cache-only pass over the steps: nothing runs, nothing is written.
import { SbxError } from "@sbx-sh/protocol";
import { NotCached, runBuild, type BuildBase, type BuilderDeps } from "../build/builder.js";
import type { SourceImage } from "../build/copy-from.js";
import type { CreateBuild } from "../domain/commands.js";
import type { ImageStore } from "../store/store.js";
import { imageDigest } from "./build-image.js";

export async function assertNameFree(
  store: Pick<ImageStore, "findImage">,
  deps: BuilderDeps,
  b: {
    project: string;
    name: string;
    tag: string;
    req: CreateBuild;
    base: BuildBase;
    sourceImages: Map<string, SourceImage>;
  },
): Promise<void> {
  const current = await store.findImage(b.project, b.name, b.tag);
  if (!current) return;
  if (!b.req.noCache) {
    const same = await runBuild(b.req.definition, b.base, deps, {
      noCache: false,
      cacheOnly: true,
      signal: new AbortController().signal,
      emit: () => undefined,
      sourceImages: b.sourceImages,
      // The same cache keys as the build itself, which are per project.
      project: b.project,
    }).then(
      (r) =>
        imageDigest(
          b.base.id,
          r.layers.map((l) => l.digest),
          r.config,
        ) === current.id,
      (err: unknown) => {
        if (err instanceof NotCached) return false;
        throw err;
      },
    );
    if (same) return;
  }
  throw new SbxError(
    "already_exists",
    `image ${b.name}:${b.tag} already exists in project ${b.project}: pass --replace to point the name at the new image, or build under another tag`,
  );
}

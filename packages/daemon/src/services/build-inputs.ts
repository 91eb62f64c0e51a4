// What a build stands on, resolved and checked when it is created, before it is queued: its base (a
// base recipe, a registry image pulled now, or an image of the project), the images its COPY --from
// steps name, and the uploaded files of its COPY and ADD steps.
import { SbxError, describeStep, type ImageDefinition } from "@sbx-sh/protocol";
import type { SourceImage } from "../build/copy-from.js";
import type { ImageLayerRef } from "../domain/records.js";
import { isRegistryRef } from "../oci/registry-ref.js";
import type { ImageStore } from "../store/store.js";
import { parseImageRef, type ImageService, type ResolvedBase } from "./images.js";

/** A build's base: a rootfs dir and, for layered images, the layers above it (bottom first). */
export type LayeredBase = ResolvedBase & {
  layers: ImageLayerRef[];
  /** Layer keys to keep from garbage collection while building. */ keys?: string[];
};

export interface BuildInputs {
  store: Pick<ImageStore, "findImage">;
  images: Pick<ImageService, "resolve" | "resolvesToBase" | "resolveBase">;
  /** Whether `project` uploaded this context (contexts of other projects are not visible). */
  hasContext(project: string, digest: string): Promise<boolean>;
  /** Fetches a `registry/repo:tag` base as layers (the OCI service's pull). */
  pullBase(project: string, ref: string): Promise<LayeredBase>;
}

/** A base recipe, a registry image (pulled), or an image of the project (imported, pulled or built). */
export async function resolveBase(d: BuildInputs, project: string, ref: string): Promise<LayeredBase> {
  if (isRegistryRef(ref)) return d.pullBase(project, ref);
  const { name, tag } = parseImageRef(ref);
  const own = d.images.resolvesToBase(ref) ? undefined : await d.store.findImage(project, name, tag);
  if (own)
    return {
      name: `${own.name}:${own.tag}`,
      id: own.id,
      dir: own.baseDir,
      sizeBytes: own.sizeBytes,
      config: own.config,
      layers: own.layers,
    };
  return { ...(await d.images.resolveBase(ref, project)), layers: [] };
}

/**
 * The images COPY --from steps name, by the name they use: pinned now, so a name re-registered
 * mid-build does not change the build. failed_precondition when a COPY or ADD step's files were
 * not uploaded.
 */
export async function pinSources(
  d: BuildInputs,
  project: string,
  def: ImageDefinition,
): Promise<Map<string, SourceImage>> {
  const sourceImages = new Map<string, SourceImage>();
  for (const step of def.steps) {
    if (step.op === "copy_from" && !sourceImages.has(step.image)) {
      const img = await d.images.resolve(project, step.image);
      sourceImages.set(step.image, { id: img.id, lowers: img.lowers, hostIds: img.config.systemd });
    }
    if ((step.op === "copy" || step.op === "add") && !(await d.hasContext(project, step.context))) {
      throw new SbxError(
        "failed_precondition",
        `the files of step "${describeStep(step)}" (${step.context}) were not uploaded: PUT them to /v1/contexts/{digest} first`,
      );
    }
  }
  return sourceImages;
}

// An image as cluster content: what a node that built it writes into its manifest's `sh.sbx.content`
// annotation (beside the snapshot's description in content-registry.ts), how a node that pulls it
// reads that back (checked field by field: the registry is not trusted), and the image record the
// pulling node registers from it. The image keeps its ref (its registration's id) on every node, so
// the control plane's record, the registry tag and each node's copy name the same thing.
import { SbxError } from "@sbx-sh/protocol";
import type { ImageLayerRef, ImageRecord } from "../domain/records.js";

export interface ImageMeta {
  kind: "image";
  ref: string;
  project: string;
  name: string;
  tag: string;
  /** The image's content id (sha256 of its layers and config). */
  imageId: string;
  /** A base recipe (not pushed), or null: layer 0 of the manifest is the base dir. */
  baseRecipe: { name: string; id: string } | null;
  baseImage: string;
  baseId: string;
  config: ImageRecord["config"];
  /** Each stack layer's step, in manifest order (after the base layer if one was pushed). */
  steps: string[];
  buildId: string | null;
}

const str = (v: unknown): v is string => typeof v === "string" && v.length > 0 && v.length < 4096;
const strList = (v: unknown): v is string[] => Array.isArray(v) && v.length <= 4096 && v.every((x) => str(x));
const argv = (v: unknown): boolean =>
  v === null || (Array.isArray(v) && v.length <= 4096 && v.every((x) => typeof x === "string" && x.length < 65536));

/** An image ref as a node makes them (newId("img")): nothing else names registry tags or records. */
export const IMAGE_REF = /^img-[0-9a-z]{8,40}$/;
export const DIGEST = /^sha256:[0-9a-f]{64}$/;

/** An image's config as a node or the registry states it: bounded strings and lists only. */
export function validImageConfig(c: unknown): c is ImageRecord["config"] {
  const o = c as Partial<ImageRecord["config"]> | null;
  return (
    typeof o === "object" &&
    o !== null &&
    Array.isArray(o.env) &&
    o.env.length <= 4096 &&
    o.env.every((e) => typeof e === "string" && e.length < 65536) &&
    typeof o.workingDir === "string" &&
    o.workingDir.length < 4096 &&
    typeof o.user === "string" &&
    o.user.length < 256 &&
    argv(o.entrypoint) &&
    argv(o.cmd) &&
    typeof o.systemd === "boolean"
  );
}

/** The parsed, checked annotation of a pulled image manifest: anything else is refused. */
export function parseImageMeta(raw: string | undefined): ImageMeta {
  let m: Partial<ImageMeta>;
  try {
    m = JSON.parse(raw ?? "") as Partial<ImageMeta>;
  } catch {
    throw new SbxError("invalid_archive", "the manifest carries no sbx image description");
  }
  const ok =
    m.kind === "image" &&
    str(m.ref) &&
    IMAGE_REF.test(m.ref) &&
    str(m.project) &&
    str(m.name) &&
    str(m.tag) &&
    str(m.imageId) &&
    DIGEST.test(m.imageId) &&
    str(m.baseImage) &&
    str(m.baseId) &&
    (m.baseRecipe === null || (typeof m.baseRecipe === "object" && str(m.baseRecipe?.name) && str(m.baseRecipe.id))) &&
    validImageConfig(m.config) &&
    strList(m.steps) &&
    (m.buildId === null || str(m.buildId));
  if (!ok) throw new SbxError("invalid_archive", "the manifest's sbx image description is malformed");
  return m as ImageMeta;
}

/** The image record a node registers for a pulled image: same ref, id, name and config as where it was built. */
export function imageFromContent(meta: ImageMeta, stack: ImageLayerRef[], baseDir: string): ImageRecord {
  return {
    ref: meta.ref,
    id: meta.imageId,
    project: meta.project,
    name: meta.name,
    tag: meta.tag,
    baseImage: meta.baseImage,
    baseId: meta.baseId,
    baseDir,
    layers: stack,
    config: {
      env: meta.config.env,
      workingDir: meta.config.workingDir,
      user: meta.config.user,
      entrypoint: meta.config.entrypoint,
      cmd: meta.config.cmd,
      systemd: meta.config.systemd,
    },
    sizeBytes: stack.reduce((a, l) => a + l.sizeBytes, 0),
    buildId: meta.buildId,
    createdAt: new Date().toISOString(),
    deletedAt: null,
  };
}

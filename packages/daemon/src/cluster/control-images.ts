// The control plane's part in images as cluster content (with --registry): it records an image a
// node committed for a build it placed (the node's POST /cluster/v1/images, after its push) in its
// own store, PostgreSQL, under the project, name and tag of the placement (build-directory.ts),
// never the node's word; and, to create a sandbox from such an image, it names the image's layers
// for placement and has the chosen node pull it by digest (POST /node/v1/content/images) first.
// `sbx image ls/get/rm` through the control plane then answer from that store as on one daemon.
import { SbxError } from "@sbx-sh/protocol";
import type { ImageRecord } from "../domain/records.js";
import { parseImageRef } from "../services/images.js";
import type { ImageStore } from "../store/store.js";
import type { BuildDirectory } from "./build-directory.js";
import { BUILD_ID, FETCH_IMAGE_PATH } from "./content-control.js";
import { DIGEST, IMAGE_REF, validImageConfig } from "./content-image.js";
import type { ContentRecord, ContentRecords } from "./content-records.js";
import type { ImageReport } from "./image-report.js";
import { forwardHttp } from "./node-forward.js";
import { type NodeTarget } from "./node-target.js";

/** A cluster image a create names: what the node must pull, and the layers placement prefers. */
export interface ClusterImage {
  record: ContentRecord;
  name: string;
  tag: string;
  layers: string[];
}

const text = (v: unknown, max = 4096): v is string => typeof v === "string" && v.length > 0 && v.length <= max;
const size = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/** The node's report, checked field by field (a node is not trusted with the control plane's store). */
export function checkImageReport(body: unknown): ImageReport {
  const r = body as Partial<ImageReport> | null;
  const i = r?.image;
  const bad = (why: string): SbxError => new SbxError("invalid_argument", `invalid image report: ${why}`);
  if (typeof r !== "object" || r === null) throw bad("expected an object");
  if (!text(r.build) || !BUILD_ID.test(r.build)) throw bad("build: expected a build id");
  if (!text(r.manifest) || !DIGEST.test(r.manifest)) throw bad("manifest: expected a sha256 digest");
  if (typeof i !== "object" || i === null) throw bad("image: expected an object");
  if (!text(i.ref) || !IMAGE_REF.test(i.ref)) throw bad("image.ref: expected an image ref");
  if (!text(i.id) || !DIGEST.test(i.id)) throw bad("image.id: expected a sha256 digest");
  if (!text(i.baseImage, 512) || !text(i.baseId, 512)) throw bad("image.baseImage/baseId: expected names");
  if (!validImageConfig(i.config)) throw bad("image.config: malformed");
  if (!size(i.sizeBytes)) throw bad("image.sizeBytes: expected a size");
  const layersOk =
    Array.isArray(i.layers) &&
    i.layers.length <= 128 &&
    i.layers.every((l) => text(l?.digest) && DIGEST.test(l.digest) && size(l.sizeBytes) && text(l.step, 65536));
  if (!layersOk) throw bad("image.layers: expected at most 128 layers with digests, sizes and steps");
  return r as ImageReport;
}

export class ControlImages {
  /** Whether a name is a base image recipe (built by every node itself); set by the daemon's wiring. */
  isBase: (name: string) => boolean = () => true;

  constructor(
    private readonly images: ImageStore,
    private readonly records: ContentRecords,
    readonly builds: BuildDirectory,
  ) {}

  /** Records the image `node` committed for a build placed there; answers the registration. */
  async record(node: string, body: unknown): Promise<ImageRecord> {
    const r = checkImageReport(body);
    const placed = await this.builds.ofNode(node, r.build);
    const img: ImageRecord = {
      ref: r.image.ref,
      id: r.image.id,
      project: placed.project,
      name: placed.imageName,
      tag: placed.tag,
      baseImage: r.image.baseImage,
      baseId: r.image.baseId,
      // The files are on the nodes and in the registry: the control plane keeps no paths.
      baseDir: "",
      layers: r.image.layers.map((l) => ({ ...l, key: `cluster:${l.digest}`, dir: "", cached: false })),
      config: r.image.config,
      sizeBytes: r.image.sizeBytes,
      buildId: placed.id,
      createdAt: new Date().toISOString(),
      deletedAt: null,
    };
    await this.builds.committed(placed.id, img.ref);
    await this.records.put({ id: img.ref, kind: "image", project: placed.project, manifest: r.manifest, node });
    // Rebuilding to the very same image is not a conflict: the name already points at it.
    return this.images.transaction(async (tx) => {
      const current = await tx.findImage(img.project, img.name, img.tag);
      if (current?.id === img.id) return current;
      await tx.registerImage(img, placed.replace);
      return img;
    });
  }

  /** The project's image a create names, if it is cluster content; null for base images and the rest. */
  async resolve(project: string, ref: unknown): Promise<ClusterImage | null> {
    if (typeof ref !== "string" || ref.length === 0 || ref.length > 300) return null;
    const { name, tag } = parseImageRef(ref);
    const img = await this.images.findImage(project, name, tag);
    if (!img) {
      // PostgreSQL is the truth: an image removed there is not launched from a node's stale copy.
      if (this.isBase(ref) || /^(sha256:)?[0-9a-f]{12,64}$/.test(ref)) return null;
      throw new SbxError(
        "image_not_found",
        `image ${JSON.stringify(ref)} does not exist in project ${project}: list images with \`sbx image ls\``,
      );
    }
    const record = await this.records.image(project, img.ref);
    if (!record)
      throw new SbxError(
        "failed_precondition",
        `image ${name}:${tag} is not stored in the cluster registry (it was made on the control host, not built on a node): build it again through the control plane`,
      );
    return { record, name: img.name, tag: img.tag, layers: img.layers.map((l) => l.digest) };
  }

  /** Has the node pull the image (a no-op where it is already); the node's refusal is the caller's error. */
  async fetchOn(target: NodeTarget, image: ClusterImage, signal?: AbortSignal): Promise<Response | null> {
    const body = new TextEncoder().encode(
      JSON.stringify({ ref: image.record.id, manifest: image.record.manifest, name: image.name, tag: image.tag }),
    );
    const res = await forwardHttp(
      target,
      new Request("http://node" + FETCH_IMAGE_PATH, {
        method: "POST",
        headers: { "content-type": "application/json" },
      }),
      FETCH_IMAGE_PATH,
      { body, ...(signal ? { signal } : {}) },
    );
    if (res.ok) {
      await res.body?.cancel();
      return null;
    }
    return res;
  }
}

// Images a project can launch: the base images (built on first use) and the images its builds
// registered. Resolves a name to the layer directories a sandbox stacks, and lists, inspects and
// removes images (as records: api/ describes them on the wire).
import { SbxError } from "@sbx-sh/protocol";
import type { BaseImage, BaseImageSource } from "../build/base-images.js";
import type { ImageStore } from "../store/store.js";
import type { EventBus } from "./event-bus.js";
import { ensureWithProgress } from "./base-progress-events.js";
import type { BaseImageRecord, ImageEntry, ImageLayerRef, ImageRecord } from "../domain/records.js";

/** A base image recipe's state on this host: built, built on first use, or not buildable (and why). */
export interface BaseState {
  name: string;
  state: "ready" | "buildable" | "unavailable";
  reason?: string;
}

export interface ResolvedImage {
  name: string;
  id: string;
  lowers: string[];
  /** The stack behind `lowers`: layers bottom first, on `baseDir`. */
  layers: ImageLayerRef[];
  baseDir: string;
  baseImage: string;
  config: {
    env: string[];
    workingDir: string;
    user: string;
    systemd: boolean;
    init?: string[];
    entrypoint?: string[] | null;
    cmd?: string[] | null;
  };
  sizeBytes: number;
}

export interface ResolvedBase {
  name: string;
  id: string;
  dir: string;
  sizeBytes: number;
  config: ImageRecord["config"];
}

export function parseImageRef(ref: string): { name: string; tag: string } {
  const i = ref.lastIndexOf(":");
  return i > 0 ? { name: ref.slice(0, i), tag: ref.slice(i + 1) } : { name: ref, tag: "latest" };
}

export class ImageService {
  constructor(
    private readonly bases: BaseImageSource,
    private readonly store: ImageStore,
    readonly defaultImage: string,
    /** The daemon's event stream (image removed). */
    private readonly bus?: EventBus,
  ) {}

  /** A project image by `name[:tag]`, else a base image of that name. */
  async resolve(project: string, ref: string | undefined): Promise<ResolvedImage> {
    const wanted = ref ?? this.defaultImage;
    const { name, tag } = parseImageRef(wanted);
    const built = (await this.store.findImage(project, name, tag)) ?? (await this.findById(project, wanted));
    if (built) {
      return {
        name: `${built.name}:${built.tag}`,
        id: built.id,
        lowers: [...built.layers]
          .reverse()
          .map((l) => l.dir)
          .concat(built.baseDir),
        layers: built.layers,
        baseDir: built.baseDir,
        baseImage: built.baseImage,
        config: { ...built.config },
        sizeBytes: built.sizeBytes,
      };
    }
    const b = await this.resolveBase(wanted, project);
    return {
      name: b.name,
      id: b.id,
      lowers: [b.dir],
      layers: [],
      baseDir: b.dir,
      baseImage: b.name,
      config: b.config,
      sizeBytes: b.sizeBytes,
    };
  }

  /**
   * An image of the project by its id (`sha256:<hex>`, or at least 12 hex digits of it): a
   * replaced or removed image stays addressable this way while its record exists.
   */
  private async findById(project: string, ref: string): Promise<ImageRecord | undefined> {
    const hex = ref.replace(/^sha256:/, "");
    if (!/^[0-9a-f]{12,64}$/.test(hex)) return undefined;
    const matches = (await this.store.listAllImages()).filter(
      (i) => i.project === project && i.id.slice(7).startsWith(hex),
    );
    // The live registration if there is one, else the newest.
    return matches.find((i) => i.deletedAt === null) ?? matches.at(-1);
  }

  /** Whether the name is a base image recipe (which wins over a project image of the same name). */
  resolvesToBase(name: string): boolean {
    return this.bases.recipes().includes(name);
  }

  async resolveBase(name: string, project?: string): Promise<ResolvedBase> {
    const recipes = this.bases.recipes();
    if (!recipes.includes(name)) {
      const own = project ? (await this.store.listImages(project)).map((i) => `${i.name}:${i.tag}`) : [];
      // Bases this host cannot build are named apart, so nobody is sent to one that will fail.
      const missing = recipes.flatMap((r) => {
        const why = this.bases.unavailable?.(r);
        return why ? [`${r} (${why})`] : [];
      });
      const usable = recipes.filter((r) => !this.bases.unavailable?.(r));
      throw new SbxError(
        "image_not_found",
        `image ${JSON.stringify(name)} does not exist: available images are ${[...usable, ...own].join(", ")}` +
          (missing.length ? `; not buildable on this host: ${missing.join(", ")}` : ""),
      );
    }
    return toBase(await ensureWithProgress(this.bases, this.bus, project, name));
  }

  /** Every base image recipe and whether it is built, can be built on demand, or cannot be on this host. */
  baseStates(): BaseState[] {
    const built = new Set(this.bases.list().map((b) => b.name));
    return this.bases.recipes().map((name): BaseState => {
      if (built.has(name)) return { name, state: "ready" };
      const reason = this.bases.unavailable?.(name);
      return reason ? { name, state: "unavailable", reason } : { name, state: "buildable" };
    });
  }

  /** The base images, then the project's own. */
  async list(project: string): Promise<ImageEntry[]> {
    const own = await this.store.listImages(project);
    return [
      ...this.bases.list().map((b): ImageEntry => ({ kind: "base", base: baseRecord(b) })),
      ...own.map((image): ImageEntry => ({ kind: "built", image })),
    ];
  }

  async inspect(project: string, ref: string): Promise<ImageEntry> {
    const { name, tag } = parseImageRef(ref);
    const built = await this.store.findImage(project, name, tag);
    if (built) return { kind: "built", image: built };
    const base = this.bases.list().find((b) => b.name === ref);
    if (base) return { kind: "base", base: baseRecord(base) };
    throw new SbxError(
      "image_not_found",
      `image ${JSON.stringify(ref)} does not exist in project ${project}: list images with \`sbx image ls\``,
    );
  }

  /** Marks a project image deleted; its layers go when nothing uses them (see ImageGc). */
  async remove(project: string, ref: string): Promise<ImageRecord> {
    const { name, tag } = parseImageRef(ref);
    const built = await this.store.findImage(project, name, tag);
    if (!built) {
      if (this.bases.recipes().includes(ref))
        throw new SbxError("failed_precondition", `${ref} is a base image: base images cannot be removed`);
      throw new SbxError(
        "image_not_found",
        `image ${JSON.stringify(ref)} does not exist in project ${project}: list images with \`sbx image ls\``,
      );
    }
    await this.store.markImageDeleted(built.ref);
    this.bus?.publish({
      type: "image.removed",
      project,
      subject: built.id,
      attributes: { image: `${built.name}:${built.tag}` },
    });
    // A Dockerfile's COPY --from stages were registered beside it (`name:stage-N`, or
    // `name:<tag>-stage-N`): they go with it.
    const stage = new RegExp(`^${tag === "latest" ? "" : `${escapeRegExp(tag)}-`}stage-\\d+$`);
    for (const img of await this.store.listImages(project))
      if (img.name === name && stage.test(img.tag)) await this.store.markImageDeleted(img.ref);
    return built;
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function baseRecord(b: BaseImage): BaseImageRecord {
  return { name: b.name, digest: b.digest, sizeBytes: b.sizeBytes, config: toBase(b).config };
}

function toBase(b: BaseImage): ResolvedBase {
  return {
    name: b.name,
    id: b.digest,
    dir: b.rootfs,
    sizeBytes: b.sizeBytes,
    config: {
      env: b.config.env,
      workingDir: b.config.workingDir || "/",
      user: b.config.user || "root",
      entrypoint: null,
      cmd: null,
      systemd: b.config.systemd,
    },
  };
}

// Base images on this host: build (or reuse the cached tar), store the tar as a blob with 0-based
// ownership, and unpack a uid-shifted copy under <dataDir>/layers/<hex>/rootfs that sandboxes use
// read-only as their lowest overlay layer (./base-unpack.ts). One build per name at a time; a warm
// ensure is a file read.
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { lstat, mkdir, readdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { runCommand } from "../common/command.js";
import { exists, rand, writeAtomic } from "../common/files.js";
import { SbxError, toSbxError } from "@sbx-sh/protocol";
import { BlobStore, digestHex } from "../content/blob-store.js";
import { mmdebstrapBuilder, type BaseImageBuilder } from "./base-build.js";
import { BaseProgressParser, type BaseProgress } from "./base-progress.js";
import { baseRecipes, hostDebian, recipeHash, type BaseImageConfig, type BaseRecipe } from "./base-recipes.js";
import { unpackBase, type LayerMeta } from "./base-unpack.js";

export type { BaseImageBuilder } from "./base-build.js";

export interface BaseImage {
  name: string;
  /** sha256 of the rootfs tar (0-based ownership), as stored in the content store. */
  digest: string;
  /** Absolute path of the unpacked, uid-shifted rootfs; use it read-only, as an overlay lowerdir. */
  rootfs: string;
  /** Size of the rootfs tar in bytes. */
  sizeBytes: number;
  config: BaseImageConfig;
}

export interface BaseImagesOptions {
  dataDir: string;
  cacheDir: string;
  uidBase: number;
  log?: (line: string) => void;
  /** Replaces mmdebstrap (tests). */
  builder?: BaseImageBuilder;
  /** Replaces the built-in recipes (tests). */
  recipes?: Map<string, BaseRecipe>;
  /** Archives that replace the host's Debian mirror and archive.ubuntu.com (the daemon's config). */
  mirrors?: { debian?: string | null; ubuntu?: string | null };
}

/**
 * What the daemon asks of base images (the image service's view of BaseImages): a second source,
 * such as tests' images on a fake layer, gives the same three answers.
 */
export type BaseImageSource = Pick<BaseImages, "recipes" | "ensure" | "list"> &
  Partial<Pick<BaseImages, "unavailable" | "watch" | "get">>;

const STALE_MS = 3_600_000;

export class BaseImages {
  /** How many times the builder (mmdebstrap) ran in this process: tests use it to prove reuse. */
  builds = 0;
  private readonly opts: BaseImagesOptions;
  private readonly recipeMap: Map<string, BaseRecipe>;
  private readonly blobs: BlobStore;
  private readonly known = new Map<string, BaseImage>();
  private readonly inflight = new Map<string, Promise<BaseImage>>();
  private readonly watchers = new Map<string, Set<(p: BaseProgress) => void>>();
  private readonly parsers = new Map<string, BaseProgressParser>();
  private cleaned = false;

  constructor(opts: BaseImagesOptions) {
    if (!Number.isInteger(opts.uidBase) || opts.uidBase < 0)
      throw new SbxError("invalid_argument", `uidBase must be a non-negative integer, got ${opts.uidBase}`);
    this.opts = opts;
    this.recipeMap =
      opts.recipes ?? baseRecipes(hostDebian({}, opts.mirrors?.debian ?? undefined), opts.mirrors?.ubuntu ?? undefined);
    this.blobs = new BlobStore(join(opts.dataDir, "content"));
  }

  /**
   * systemd images run without a user namespace (systemd cannot manage cgroup v1 from inside one),
   * so their rootfs keeps host ids; everything else is shifted into the sandboxes' uid range.
   */
  uidBaseOf(recipe: BaseRecipe): number {
    return recipe.config.systemd ? 0 : this.opts.uidBase;
  }

  recipes(): string[] {
    return [...this.recipeMap.keys()];
  }

  /** The base image if it is ready on disk for the current recipe; never builds. */
  get(name: string): BaseImage | undefined {
    const recipe = this.recipeMap.get(name);
    if (!recipe) return undefined;
    const hash = recipeHash(recipe);
    const mem = this.known.get(name);
    if (mem) return mem;
    try {
      const index = JSON.parse(readFileSync(this.indexPath(name), "utf8")) as { recipeHash: string; digest: string };
      if (index.recipeHash !== hash) return undefined;
      const meta = JSON.parse(readFileSync(join(this.layerDir(index.digest), "meta.json"), "utf8")) as LayerMeta;
      if (
        meta.uidBase !== this.uidBaseOf(recipe) ||
        meta.digest !== index.digest ||
        !existsSync(join(this.layerDir(index.digest), "rootfs"))
      )
        return undefined;
      const image = this.toImage(recipe, meta);
      this.known.set(name, image);
      return image;
    } catch {
      return undefined;
    }
  }

  /** Why a base cannot be built on this host (its archive keyring is missing), or undefined when it can be or is built. */
  unavailable(name: string): string | undefined {
    const recipe = this.recipeMap.get(name);
    if (!recipe?.keyring || existsSync(recipe.keyring) || this.get(name)) return undefined;
    return `no ${recipe.keyring} (install ${recipe.keyringPackage ?? "the distribution's keyring package"})`;
  }

  list(): BaseImage[] {
    return this.recipes().flatMap((n) => this.get(n) ?? []);
  }

  /** Makes the base image ready (building it if needed) and returns it. Concurrent calls for one name share the work. */
  ensure(name: string, opts: { rebuild?: boolean } = {}): Promise<BaseImage> {
    const recipe = this.recipeMap.get(name);
    if (!recipe) {
      return Promise.reject(
        new SbxError(
          "image_not_found",
          `unknown base image ${JSON.stringify(name)}: choose one of ${this.recipes().join(", ")}`,
        ),
      );
    }
    const running = this.inflight.get(name);
    if (running) return running;
    const p = this.doEnsure(recipe, opts.rebuild === true).finally(() => this.inflight.delete(name));
    this.inflight.set(name, p);
    return p;
  }

  private async doEnsure(recipe: BaseRecipe, rebuild: boolean): Promise<BaseImage> {
    if (!rebuild) {
      const ready = this.get(recipe.name);
      if (ready) return ready;
    }
    this.known.delete(recipe.name);
    this.parsers.set(recipe.name, new BaseProgressParser());
    await this.cleanStale();
    const hash = recipeHash(recipe);
    const cacheFile = join(this.opts.cacheDir, `${recipe.name}-${hash}.tar.zst`);
    const digest =
      !rebuild && (await exists(cacheFile))
        ? await this.importCached(recipe, cacheFile)
        : await this.build(recipe, cacheFile);
    const meta = await this.unpack(recipe, hash, digest);
    await writeAtomic(
      this.indexPath(recipe.name),
      JSON.stringify({ name: recipe.name, recipeHash: hash, digest }, null, 2),
    );
    const image = this.toImage(recipe, meta);
    this.known.set(recipe.name, image);
    this.log(recipe, `ready ${digest}`);
    return image;
  }

  /** Calls fn with each phase a build (or cache import) of `name` enters until the returned stop is called. */
  watch(name: string, fn: (p: BaseProgress) => void): () => void {
    const set = this.watchers.get(name) ?? new Set();
    set.add(fn);
    this.watchers.set(name, set);
    return () => {
      set.delete(fn);
      if (set.size === 0 && this.watchers.get(name) === set) this.watchers.delete(name);
    };
  }

  private async build(recipe: BaseRecipe, cacheFile: string): Promise<string> {
    const tmpDir = join(this.opts.dataDir, "tmp");
    // Traversable by apt's _apt user, which downloads into the chroot mmdebstrap makes under here.
    await mkdir(join(tmpDir, "mmdebstrap"), { recursive: true, mode: 0o755 });
    await mkdir(this.opts.cacheDir, { recursive: true });
    const tmpTar = join(tmpDir, `base-${recipe.name}-${rand()}.tar`);
    const cacheTmp = `${cacheFile}.${rand()}.tmp`;
    const started = Date.now();
    this.log(recipe, `building ${recipe.name} from ${recipe.mirror} (${recipe.suite})`);
    try {
      this.builds++;
      try {
        await (this.opts.builder ?? mmdebstrapBuilder)(recipe, tmpTar, (l) => this.log(recipe, l), {
          tmpDir: join(tmpDir, "mmdebstrap"),
        });
      } catch (err) {
        const e = toSbxError(err);
        if (e.code === "base_image_unavailable") throw e;
        throw new SbxError(
          "base_image_unavailable",
          `cannot build ${recipe.name} from ${recipe.mirror}: ${e.message}`,
          { mirror: recipe.mirror },
          { cause: err },
        );
      }
      this.log(recipe, `built in ${((Date.now() - started) / 1000).toFixed(1)} s; compressing into ${cacheFile}`);
      const [z, { digest }] = await Promise.all([
        runCommand("zstd", ["-q", "-T0", "-f", tmpTar, "-o", cacheTmp], { timeoutMs: 600_000 }),
        this.blobs.put({ file: tmpTar }),
      ]);
      if (z.code !== 0)
        throw new SbxError(
          "base_image_unavailable",
          `cannot compress the ${recipe.name} rootfs with zstd: ${z.stderr.trim()}`,
        );
      await rename(cacheTmp, cacheFile);
      return digest;
    } finally {
      await rm(tmpTar, { force: true });
      await rm(cacheTmp, { force: true });
    }
  }

  /** Streams the cached tar.zst into the blob store; a corrupt cache file is deleted and rebuilt. */
  private async importCached(recipe: BaseRecipe, cacheFile: string): Promise<string> {
    this.log(recipe, `using cached ${cacheFile}`);
    const child = spawn("zstd", ["-dcq", cacheFile], { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    const exit = new Promise<number>((resolve) => {
      child.on("error", (e) => ((stderr += e.message), resolve(127)));
      child.on("close", (c) => resolve(c ?? 1));
    });
    const put = this.blobs.put(child.stdout).then(
      (info) => ({ info }),
      (error: unknown) => ({ error }),
    );
    const [code, res] = await Promise.all([exit, put]);
    if (code === 0) {
      if ("error" in res) throw res.error;
      return res.info.digest;
    }
    if ("info" in res && !(await this.inUse(res.info.digest))) await this.blobs.delete(res.info.digest);
    this.log(recipe, `cached ${cacheFile} is unreadable (${stderr.trim() || `zstd exit ${code}`}); rebuilding`);
    await rm(cacheFile, { force: true });
    return this.build(recipe, cacheFile);
  }

  private async inUse(digest: string): Promise<boolean> {
    return exists(join(this.layerDir(digest), "meta.json"));
  }

  /** Unpacks the tar blob into layers/<hex>/rootfs unless a matching one is there (./base-unpack.ts). */
  private unpack(recipe: BaseRecipe, hash: string, digest: string): Promise<LayerMeta> {
    return unpackBase(
      { blobs: this.blobs, dataDir: this.opts.dataDir, log: (line) => this.log(recipe, line) },
      { recipe, hash, digest, uidBase: this.uidBaseOf(recipe) },
    );
  }

  /** Removes what crashed builds left behind: temp tars and half-unpacked layers (never mmdebstrap's own dir, which may hold mounts). */
  private async cleanStale(): Promise<void> {
    if (this.cleaned) return;
    this.cleaned = true;
    const now = Date.now();
    const sweep = async (dir: string, match: RegExp): Promise<void> => {
      for (const name of await readdir(dir).catch(() => [] as string[])) {
        if (!match.test(name)) continue;
        const st = await lstat(join(dir, name)).catch(() => undefined);
        if (st && now - st.mtimeMs > STALE_MS) await rm(join(dir, name), { recursive: true, force: true });
      }
    };
    await sweep(join(this.opts.dataDir, "tmp"), /^base-.*\.tar$/);
    await sweep(join(this.opts.dataDir, "layers"), /^\.tmp-[0-9a-f]+-[0-9a-f]+(\.old)?$/);
    await sweep(this.opts.cacheDir, /\.tmp$/);
    await this.blobs.cleanIngest(STALE_MS).catch(() => 0);
  }

  private toImage(recipe: BaseRecipe, meta: LayerMeta): BaseImage {
    return {
      name: recipe.name,
      digest: meta.digest,
      rootfs: join(this.layerDir(meta.digest), "rootfs"),
      sizeBytes: meta.sizeBytes,
      config: structuredClone(recipe.config),
    };
  }

  private layerDir(digest: string): string {
    return join(this.opts.dataDir, "layers", digestHex(digest));
  }

  private indexPath(name: string): string {
    return join(this.opts.dataDir, "bases", `${name}.json`);
  }

  private log(recipe: BaseRecipe, line: string): void {
    this.opts.log?.(`[${recipe.name}] ${line}`);
    const progress = this.parsers.get(recipe.name)?.feed(line);
    if (progress) for (const fn of this.watchers.get(recipe.name) ?? []) fn(progress);
    if (progress?.phase === "ready") this.parsers.delete(recipe.name);
  }
}

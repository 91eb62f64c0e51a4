// Image builds as server-side jobs: an id, a state, an event log that can be followed again later
// (kept in memory and in a file), cancellation, and registration of the result in the project.
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { SbxError, assertValidName, assertValidTag, newId } from "@sbx-sh/protocol";
import { runBuild, type BuilderDeps } from "../build/builder.js";
import type { SourceImage } from "../build/copy-from.js";
import type { BuildEvent } from "../domain/build-events.js";
import type { CreateBuild } from "../domain/commands.js";
import type { ImageStore } from "../store/store.js";
import type { BuildRecord, ImageRecord } from "../domain/records.js";
import type { ImageService } from "./images.js";
import type { Logger } from "../common/log.js";
import type { ImageGc } from "./image-gc.js";
import { buildPublisher } from "./build-bus.js";
import type { EventBus } from "./event-bus.js";
import { BuildLog, replayBuildLog } from "./build-log.js";
import type { LayersInUse } from "./layers-in-use.js";
import { BuildCacheKeep } from "./build-cache-keep.js";
import { assertNameFree } from "./build-name-check.js";
import { builtImage } from "./build-image.js";
import { SOLE_OWNER, type BuildOwner } from "./build-owner.js";
import { toFailure } from "./build-failure.js";
import { pinSources, resolveBase, type BuildInputs, type LayeredBase } from "./build-inputs.js";

interface Running {
  abort: AbortController;
  /** Cache keys of the layers this build made or reused, protected from garbage collection. */
  keys: Set<string>;
  /** Cache keys of the steps that ended well, kept in the cache if the build fails (build-cache-keep.ts). */
  done: string[];
  log: BuildLog;
  /** Settles when the build has ended and cleaned up. */
  finished?: Promise<void>;
}

export interface BuildServiceOptions {
  /** Where each build's event log is kept (`<id>.ndjson`), to be replayed after the build. */
  logDir: string;
  /** Collects what a failed or cancelled build leaves behind. */
  gc: Pick<ImageGc, "collect">;
  /** The daemon's event stream (build started, step, finished; image registered). */
  bus?: EventBus;
  /** Fetches a `registry/repo:tag` base (FROM localhost:5000/x:1) as layers (the OCI service's pull). */
  pullBase: (project: string, ref: string) => Promise<LayeredBase>;
  /** Where builds in progress declare the layers they hold, for garbage collection. */
  inUse: LayersInUse;
  /** How long the steps a failed or cancelled build executed stay in the cache (default 24 h). */
  cacheKeepMs?: number;
  /** Who runs this daemon's builds, and whether another build's daemon is gone (default: the only daemon). */
  owner?: BuildOwner;
}

export class BuildService {
  private readonly running = new Map<string, Running>();
  private readonly logDir: string;
  private readonly keep: BuildCacheKeep;
  private readonly inputs: BuildInputs;
  /**
   * Cluster nodes (--registry): commits a build the control plane placed here (its layers pushed to
   * the cluster registry, the image recorded in the control plane's store) before it is registered
   * and reported succeeded; a failure fails the build and nothing is registered.
   */
  publish?: (img: ImageRecord, build: BuildRecord) => Promise<void>;

  constructor(
    private readonly store: ImageStore,
    images: ImageService,
    private readonly deps: BuilderDeps & { hasContext(project: string, digest: string): Promise<boolean> },
    private readonly opts: BuildServiceOptions,
    private readonly log: Logger,
  ) {
    this.logDir = opts.logDir;
    this.keep = new BuildCacheKeep(opts.cacheKeepMs);
    this.inputs = { store, images, hasContext: (p, d) => deps.hasContext(p, d), pullBase: opts.pullBase };
    opts.inUse.add(() => this.buildingKeys());
    opts.inUse.add(() => this.keep.keys());
  }

  /** `placed`: the control plane's id for a build it placed on this node (cluster mode), which commits it there. */
  async create(project: string, req: CreateBuild, placed?: { id: string }): Promise<BuildRecord> {
    const def = req.definition;
    const name = assertValidName("image", req.registeredName ?? def.name);
    const tag = assertValidTag(req.tag ?? def.tag ?? "latest");
    const base = await resolveBase(this.inputs, project, def.baseImage);
    for (const b of this.running.keys()) {
      const other = await this.store.getBuild(b);
      // The store's state, not map membership: a build leaves the map only after its log is flushed.
      if (
        other &&
        other.project === project &&
        other.imageName === name &&
        other.tag === tag &&
        (other.state === "queued" || other.state === "running")
      ) {
        throw new SbxError(
          "already_exists",
          `build ${b} of ${name}:${tag} is still running: wait for it (sbx image logs ${b} -f) or cancel it`,
        );
      }
    }
    const sourceImages = await pinSources(this.inputs, project, def);
    // The name is checked before any step runs; the same image again is not a clash (see execute).
    if (!req.replace) await assertNameFree(this.store, this.deps, { project, name, tag, req, base, sourceImages });
    const rec: BuildRecord = {
      id: placed?.id ?? newId("bld"),
      project,
      imageName: name,
      tag,
      state: "queued",
      steps: def.steps.length,
      imageId: null,
      failure: null,
      createdAt: new Date().toISOString(),
      startedAt: null,
      endedAt: null,
      owner: (this.opts.owner ?? SOLE_OWNER).id,
    };
    await this.store.insertBuild(rec);
    const run: Running = {
      abort: new AbortController(),
      keys: new Set([...(base.keys ?? []), ...base.layers.map((l) => l.key)]),
      done: [],
      log: new BuildLog(join(this.logDir, `${rec.id}.ndjson`)),
    };
    this.running.set(rec.id, run);
    await mkdir(this.logDir, { recursive: true, mode: 0o700 });
    run.finished = this.execute(rec, req, base, run, sourceImages, placed !== undefined);
    return rec;
  }

  private async execute(
    rec: BuildRecord,
    req: CreateBuild,
    base: LayeredBase,
    run: Running,
    sourceImages: Map<string, SourceImage>,
    placed: boolean,
  ): Promise<void> {
    const publish = buildPublisher(this.opts.bus, rec.project, rec.id);
    let current: string | undefined;
    const emit = (ev: BuildEvent): void => {
      if (ev.type === "step") run.keys.add((current = ev.key));
      if (ev.type === "step_done" && current) run.done.push(current);
      run.log.append(ev);
      publish(ev);
    };
    // A step's layer under a key of its own (a noCache rebuild): held like the step's key.
    const hold = (key: string): void => void run.keys.add((current = key));
    await this.store.updateBuild(rec.id, { state: "running", startedAt: new Date().toISOString() });
    emit({ type: "build", build: await this.get(rec.project, rec.id) });
    let image: ImageRecord | null = null;
    try {
      const result = await runBuild(req.definition, base, this.deps, {
        noCache: req.noCache ?? false,
        signal: run.abort.signal,
        emit,
        sourceImages,
        project: rec.project,
        hold,
      });
      const img = builtImage(rec, base, result);
      if (placed && !this.publish)
        throw new SbxError(
          "failed_precondition",
          "this node has no cluster registry (--registry): it cannot commit builds",
        );
      if (placed) await this.publish!(img, rec);
      // Rebuilding to the very same image is not a conflict: the name already points at it.
      const current = await this.store.transaction(async (tx) => {
        const current = await tx.findImage(rec.project, rec.imageName, rec.tag);
        if (current?.id !== img.id) await tx.registerImage(img, req.replace ?? false);
        await tx.updateBuild(rec.id, { state: "succeeded", imageId: img.id, endedAt: new Date().toISOString() });
        return current;
      });
      image = current?.id === img.id ? current : img;
      this.log.info({ build: rec.id, image: `${img.name}:${img.tag}`, id: img.id }, "build succeeded");
    } catch (err) {
      const cancelled = run.abort.signal.aborted;
      await this.store.updateBuild(rec.id, {
        state: cancelled ? "cancelled" : "failed",
        failure: cancelled ? null : toFailure(err),
        endedAt: new Date().toISOString(),
      });
      this.log.info(
        { build: rec.id, err: err instanceof Error ? err.message : String(err) },
        cancelled ? "build cancelled" : "build failed",
      );
    } finally {
      if (!image) {
        // A failed or cancelled build keeps the steps it executed in the cache, for the retry, and
        // leaves no other layer behind that no image references; done only after that, so whoever
        // sees the end sees a clean state.
        this.keep.keep(run.done, Date.now());
        run.keys.clear();
        await this.opts.gc
          .collect()
          .catch((err: unknown) => this.log.warn({ err }, "garbage collection after a build failed"));
      }
      emit({ type: "done", build: await this.get(rec.project, rec.id), image });
      await run.log.flushed();
      this.running.delete(rec.id);
    }
  }

  buildingKeys(): Set<string> {
    const keys = new Set<string>();
    for (const r of this.running.values()) for (const k of r.keys) keys.add(k);
    return keys;
  }

  async get(project: string, id: string): Promise<BuildRecord> {
    const b = await this.store.getBuild(id);
    if (!b || b.project !== project)
      throw new SbxError(
        "not_found",
        `build ${id} does not exist in project ${project}: list builds with \`sbx image builds\``,
      );
    return b;
  }

  list(project: string): Promise<BuildRecord[]> {
    return this.store.listBuilds(project);
  }

  async cancel(project: string, id: string): Promise<BuildRecord> {
    const b = await this.get(project, id);
    this.running.get(id)?.abort.abort();
    return b;
  }

  /** Every event of the build from its start; with follow, new ones until the build is done. */
  async *events(project: string, id: string, follow: boolean, signal?: AbortSignal): AsyncGenerator<BuildEvent> {
    await this.get(project, id);
    const live = this.running.get(id);
    // Finished (maybe before a daemon restart): replay the log file.
    if (!live) return yield* replayBuildLog(join(this.logDir, `${id}.ndjson`));
    yield* live.log.read(follow, signal);
  }

  /** Daemon start: builds that were running died with the old daemon. */
  async reconcile(): Promise<number> {
    const stale = await this.failOrphaned();
    // The steps of builds that failed lately (these included) stay cached across the restart.
    const ended = await this.store.listBuildsInState(["failed", "cancelled"]);
    await this.keep.load(
      ended,
      (id) => replayBuildLog(join(this.logDir, `${id}.ndjson`)),
      async (key) => (await this.store.getStepLayer(key))?.key,
    );
    return stale;
  }

  /** Fails the builds in progress whose daemon is gone (all of them at a lone daemon's start). */
  async failOrphaned(): Promise<number> {
    const owner = this.opts.owner ?? SOLE_OWNER;
    const stale: BuildRecord[] = [];
    for (const b of await this.store.listBuildsInState(["queued", "running"]))
      if (!this.running.has(b.id) && (await owner.isGone(b.owner))) stale.push(b);
    for (const b of stale) {
      await this.store.updateBuild(b.id, {
        state: "failed",
        endedAt: new Date().toISOString(),
        failure: {
          step: null,
          text: null,
          source: null,
          exitCode: null,
          message: "the daemon stopped during the build: run it again",
          lastLines: [],
        },
      });
    }
    return stale.length;
  }

  /** Daemon shutdown: cancels builds and waits until their sandboxes are gone. */
  async close(): Promise<void> {
    const runs = [...this.running.values()];
    for (const r of runs) r.abort.abort();
    await Promise.all(runs.map((r) => r.finished));
  }
}

// Sandbox pools: an image + resources + timeout with `warm` blanks kept running (targets of the
// warm pool, ./warm-pool.ts) and at most `max` sandboxes claimed from it at once. A claim is a
// create with the pool's settings, served from a warm blank when one is ready (a hit) and
// refilled in the background. The daemon's built-in warm pool is the pool "default" (read-only
// here: sized by --warm-pool). Pools are kept in <dataDir>/pools.json (one host's state).
import { join } from "node:path";
import { SbxError, newId } from "@sbx-sh/protocol";
import { readJson, writeAtomic } from "../common/files.js";
import type { Logger } from "../common/log.js";
import type { SandboxRecord } from "../domain/records.js";
import type { ImageService } from "./images.js";
import type { SandboxService } from "./sandbox-service.js";
import { DEFAULT_TARGET, type WarmPool } from "./warm-pool.js";

export interface PoolSpec {
  image?: string | undefined;
  cpus?: number | undefined;
  memoryMb?: number | undefined;
  diskMb?: number | undefined;
  timeoutSecs?: number | undefined;
  allowInternetAccess?: boolean | undefined;
  warm: number;
  max?: number | null | undefined;
}

export interface PoolRecord extends PoolSpec {
  id: string;
  project: string;
  max: number | null;
  createdAt: string;
  /** Sandboxes claimed from it that may still be live (pruned as they end). */
  claimed: string[];
}

export interface PoolStats {
  claims: number;
  hits: number;
  misses: number;
  /** Median claim latency (ms) of the last 100 claims, or null before the first. */
  claimP50Ms: number | null;
}

/** Warm blanks per pool are real containers: a bound keeps one pool from taking the host. */
const MAX_WARM = 16;

export class PoolService {
  private pools = new Map<string, PoolRecord>();
  private readonly stats = new Map<string, { claims: number; hits: number; misses: number; ms: number[] }>();
  private readonly file: string;

  constructor(
    dataDir: string,
    private readonly warm: WarmPool,
    private readonly images: ImageService,
    private readonly sandboxes: SandboxService,
    private readonly log: Logger,
  ) {
    this.file = join(dataDir, "pools.json");
  }

  private timer: NodeJS.Timeout | undefined;

  /**
   * Daemon start: the stored pools become warm-pool targets, and the pools are looked at every
   * `checkMs`: a fill resolves each pool's image name again, so a re-pointed name (a rebuild,
   * `--replace`) gets its blanks replaced on a rolling basis.
   */
  async load(checkMs = 2000): Promise<void> {
    const list = (await readJson<PoolRecord[]>(this.file)) ?? [];
    this.pools = new Map(list.map((p) => [p.id, p]));
    for (const p of list) this.target(p);
    this.timer = setInterval(() => this.warm.refill(), checkMs);
    this.timer.unref();
  }

  /** Stops the checks and waits for pools.json writes still in flight (claims write it behind). */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.saved;
  }

  async create(project: string, spec: PoolSpec): Promise<PoolRecord> {
    checkSpec(spec);
    await this.images.resolve(project, spec.image); // an unknown image fails here, with nothing made
    const rec: PoolRecord = {
      ...spec,
      id: newId("pool"),
      project,
      max: spec.max ?? null,
      createdAt: new Date().toISOString(),
      claimed: [],
    };
    this.pools.set(rec.id, rec);
    await this.save();
    this.target(rec);
    this.log.info({ pool: rec.id, image: rec.image, warm: rec.warm }, "pool created");
    return rec;
  }

  async update(project: string, id: string, spec: PoolSpec): Promise<PoolRecord> {
    const old = this.get(project, id);
    checkSpec(spec);
    await this.images.resolve(project, spec.image);
    const rec: PoolRecord = { ...old, ...spec, max: spec.max ?? null };
    this.pools.set(id, rec);
    await this.save();
    this.target(rec);
    return rec;
  }

  list(project: string): PoolRecord[] {
    return [...(project === "default" ? [this.defaultPool()] : []), ...this.pools.values()].filter(
      (p) => p.project === project,
    );
  }

  get(project: string, id: string): PoolRecord {
    const p = id === DEFAULT_TARGET && project === "default" ? this.defaultPool() : this.pools.get(id);
    if (!p || p.project !== project)
      throw new SbxError("not_found", `pool ${JSON.stringify(id)} does not exist: see \`sbx pool ls\``);
    return p;
  }

  async remove(project: string, id: string): Promise<PoolRecord> {
    const p = this.get(project, id);
    if (p.id === DEFAULT_TARGET)
      throw new SbxError("failed_precondition", "the default pool is the daemon's: size it with sbxd --warm-pool");
    this.pools.delete(id);
    await this.save();
    this.warm.removeTarget(id);
    return p;
  }

  statsOf(id: string): PoolStats {
    const s = this.stats.get(id) ?? { claims: 0, hits: 0, misses: 0, ms: [] };
    const sorted = [...s.ms].sort((a, b) => a - b);
    return {
      claims: s.claims,
      hits: s.hits,
      misses: s.misses,
      claimP50Ms: sorted[Math.floor(sorted.length / 2)] ?? null,
    };
  }

  /** Warm sandboxes ready now of the image the pool's name points at now (not those being replaced). */
  async ready(p: PoolRecord): Promise<number> {
    const image = await this.images.resolve(p.project, p.image).catch(() => undefined);
    return image ? this.warm.readyFor(p.id, image.id) : 0;
  }

  /** A running sandbox with the pool's settings, from a warm blank when one is ready. */
  async claim(project: string, id: string): Promise<SandboxRecord> {
    const p = this.get(project, id);
    const t0 = performance.now();
    if (p.max !== null) {
      const live = await this.live(p);
      if (live.length >= p.max)
        throw new SbxError(
          "failed_precondition",
          `pool ${p.id} has ${live.length} sandboxes claimed, its max_containers: terminate one, or raise the pool's max`,
        );
    }
    const image = await this.images.resolve(project, p.image);
    const takenBefore = this.warm.takenOf(image.id);
    const sb = await this.sandboxes.create(project, {
      image: p.image,
      cpus: p.cpus,
      memoryMb: p.memoryMb,
      diskMb: p.diskMb,
      timeoutSecs: p.timeoutSecs,
      allowInternetAccess: p.allowInternetAccess,
    });
    const hit = this.warm.takenOf(image.id) > takenBefore;
    const s = this.stats.get(p.id) ?? { claims: 0, hits: 0, misses: 0, ms: [] };
    s.claims++;
    if (hit) s.hits++;
    else s.misses++;
    s.ms.push(performance.now() - t0);
    if (s.ms.length > 100) s.ms.shift();
    this.stats.set(p.id, s);
    if (p.id !== DEFAULT_TARGET) {
      p.claimed = [...(await this.live(p)).map((x) => x.id), sb.id];
      // Written behind the claim (in order): the claimer need not wait for the file.
      this.save().catch((err: unknown) => this.log.warn({ err, pool: p.id }, "pools.json could not be written"));
    }
    return sb;
  }

  /** The pool a sandbox was claimed from, if any. */
  poolOf(sandboxId: string): string | null {
    for (const p of this.pools.values()) if (p.claimed.includes(sandboxId)) return p.id;
    return null;
  }

  private async live(p: PoolRecord): Promise<SandboxRecord[]> {
    const all = await Promise.all(p.claimed.map((id) => this.sandboxes.get(p.project, id).catch(() => undefined)));
    return all.filter((s): s is SandboxRecord => s !== undefined && s.status !== "terminated");
  }

  private target(p: PoolRecord): void {
    this.warm.setTarget(p.id, {
      project: p.project,
      image: p.image,
      count: p.warm,
      networks: [p.allowInternetAccess ?? true],
    });
  }

  private defaultPool(): PoolRecord {
    return {
      id: DEFAULT_TARGET,
      project: "default",
      image: undefined,
      warm: this.warm.size,
      max: null,
      createdAt: "",
      claimed: [],
    };
  }

  private saved: Promise<void> = Promise.resolve();

  /** Writes one after the other, each with the state of its turn, so the file never goes back. */
  private save(): Promise<void> {
    const next = this.saved.then(() => writeAtomic(this.file, JSON.stringify([...this.pools.values()], null, 1)));
    this.saved = next.catch(() => undefined);
    return next;
  }
}

function checkSpec(spec: PoolSpec): void {
  if (!Number.isInteger(spec.warm) || spec.warm < 0 || spec.warm > MAX_WARM)
    throw new SbxError("out_of_range", `warm_containers must be a whole number from 0 to ${MAX_WARM}`);
  if (spec.max !== undefined && spec.max !== null && (!Number.isInteger(spec.max) || spec.max < spec.warm))
    throw new SbxError(
      "out_of_range",
      `max_containers (${spec.max}) must be a whole number at least warm_containers (${spec.warm})`,
    );
}

// Filesystem snapshots of running sandboxes: a frozen, point-in-time copy of the writable layer
// stacked on the sandbox's own stack, restorable into new sandboxes, forkable, registrable as an
// image; and suspend/resume of named sandboxes on top of them. Deep chains are squashed.
import { createHash } from "node:crypto";
import { SbxError } from "@sbx-sh/protocol";
import { assertValidName, assertValidTag, newId } from "@sbx-sh/protocol";
import type { SandboxRuntime } from "../runtime/runtime.js";
import type { LayerStore } from "../layers/layer-store.js";
import type { ImageLayerRef, ImageRecord, ImageStore, SandboxRecord, SnapshotRecord, Store } from "../store/store.js";
import type { ImageGc } from "./image-gc.js";
import type { ResolvedImage } from "./images.js";
import type { Logger, SandboxService } from "./sandbox-service.js";

/** Past this many layers a new snapshot is squashed into one (overlayfs: ≤ 500 lowers, one page of options). */
export const MAX_STACK_DEPTH = 24;

export class SnapshotService {
  constructor(
    private readonly store: Store,
    private readonly images: ImageStore,
    private readonly runtime: SandboxRuntime,
    private readonly layers: LayerStore,
    private readonly sandboxes: SandboxService,
    private readonly gc: ImageGc,
    private readonly log: Logger,
  ) {
    sandboxes.resolveSnapshot = (project, id) => this.resolve(project, id);
    sandboxes.onTimeoutSuspend = (id) => this.suspendById(id, "timeout");
    sandboxes.onEnded((s) => this.forgetSuspendSnapshot(s));
  }

  async create(
    project: string,
    sandbox: string,
    opts: { type?: "filesystem" | "memory" } = {},
  ): Promise<SnapshotRecord> {
    const sb = await this.sandboxes.getRunning(project, sandbox);
    if (opts.type === "memory") {
      const support = this.runtime.capabilities.memorySnapshots;
      throw new SbxError(
        "failed_precondition",
        `memory snapshots are not available on this host: ${support.reason}. Take a filesystem snapshot (the default) instead`,
      );
    }
    return this.sandboxes.withLock(sb.id, async () => this.capture((await this.store.getSandbox(sb.id))!, false));
  }

  private async capture(sb: SandboxRecord, forSuspend: boolean): Promise<SnapshotRecord> {
    if (sb.status !== "running") throw new SbxError("sandbox_not_running", `sandbox ${sb.id} is ${sb.status}`);
    if (!this.runtime.capabilities.liveCapture)
      throw new SbxError(
        "failed_precondition",
        `the ${this.runtime.name} runtime cannot copy a running sandbox's files: snapshots are not available`,
      );
    const source = sb.source ?? { layers: [], baseDir: sb.lowers?.at(-1) ?? "", baseImage: sb.image };
    const id = newId("snap");
    const rec: SnapshotRecord = {
      id,
      project: sb.project,
      type: "filesystem",
      status: "in_progress",
      sourceSandboxId: sb.id,
      sourceImage: sb.image,
      sourceImageId: sb.imageId,
      parentSnapshotId: sb.snapshotId ?? null,
      forSuspend,
      layers: [],
      baseDir: source.baseDir,
      baseImage: source.baseImage,
      config: {
        env: sb.config.env,
        workingDir: sb.config.workingDir,
        user: sb.config.user,
        entrypoint: null,
        cmd: null,
        systemd: sb.config.systemd ?? false,
      },
      sizeBytes: 0,
      error: null,
      createdAt: new Date().toISOString(),
      completedAt: null,
    };
    await this.images.insertSnapshot(rec);
    try {
      const key = layerKey(id);
      const made = await this.runtime.exportLayer(sb.id, { live: true }, (layer) => this.layers.commit(layer, key));
      const own: ImageLayerRef = {
        key,
        digest: made.digest,
        dir: made.dir,
        sizeBytes: made.sizeBytes,
        step: `snapshot ${id} of ${sb.id}`,
        cached: false,
      };
      let stack = [...source.layers, own];
      let baseDir = source.baseDir;
      // The record names a layer in the same transaction that lists it: a collection running
      // meanwhile (they run after every terminate) must never see a listed layer that nothing references.
      await this.images.transaction(async (tx) => {
        await tx.updateSnapshot(id, { layers: stack, baseDir });
        await tx.putLayer({
          key,
          digest: made.digest,
          dir: made.dir,
          sizeBytes: made.sizeBytes,
          step: own.step,
          createdAt: rec.createdAt,
        });
      });
      if (stack.length > MAX_STACK_DEPTH) {
        const flatKey = layerKey(`${id}/flat`);
        const flat = await this.layers.flatten(
          [...stack]
            .reverse()
            .map((l) => l.dir)
            .concat(baseDir),
          flatKey,
        );
        stack = [];
        baseDir = flat.dir;
        await this.images.transaction(async (tx) => {
          await tx.updateSnapshot(id, { layers: stack, baseDir });
          await tx.putLayer({
            key: flatKey,
            digest: flat.digest,
            dir: flat.dir,
            sizeBytes: flat.sizeBytes,
            step: `squashed stack of ${id}`,
            createdAt: rec.createdAt,
          });
        });
      }
      const sizeBytes = stack.reduce((a, l) => a + l.sizeBytes, 0);
      await this.images.updateSnapshot(id, {
        status: "completed",
        layers: stack,
        baseDir,
        sizeBytes,
        completedAt: new Date().toISOString(),
      });
      this.log.info({ snapshot: id, sandbox: sb.id, depth: stack.length, sizeBytes }, "snapshot taken");
      return (await this.images.getSnapshot(id))!;
    } catch (err) {
      await this.images.updateSnapshot(id, {
        status: "failed",
        error: err instanceof Error ? err.message : String(err),
      });
      await this.gc.collect().catch(() => undefined);
      throw err;
    }
  }

  async get(project: string, id: string): Promise<SnapshotRecord> {
    const s = await this.images.getSnapshot(id);
    if (!s || s.project !== project)
      throw new SbxError(
        "not_found",
        `snapshot ${id} does not exist in project ${project}: list them with \`sbx snapshot ls\``,
      );
    return s;
  }

  async list(project: string): Promise<SnapshotRecord[]> {
    return (await this.images.listSnapshots(project)).filter((s) => !s.forSuspend);
  }

  /** Deletes a snapshot; its layers go once no sandbox, image or other snapshot uses them. */
  async remove(project: string, id: string): Promise<SnapshotRecord> {
    const s = await this.get(project, id);
    // Checked and deleted in one transaction: a suspend cannot come to stand on it in between.
    await this.store.transaction(async (tx) => {
      const suspendedOn = (await tx.listSandboxes({ project })).find((x) => x.suspendSnapshotId === id);
      if (suspendedOn)
        throw new SbxError(
          "failed_precondition",
          `snapshot ${id} holds suspended sandbox ${suspendedOn.id}: resume or remove the sandbox instead`,
        );
      await tx.deleteSnapshot(id);
    });
    await this.gc.collect();
    return s;
  }

  /** The stack a new sandbox starts from, for `create({ snapshotId })`. */
  async resolve(project: string, id: string): Promise<ResolvedImage> {
    const s = await this.get(project, id);
    if (s.status !== "completed")
      throw new SbxError(
        "failed_precondition",
        `snapshot ${id} is ${s.status}: only completed snapshots can be restored`,
      );
    return {
      name: s.sourceImage,
      id: s.sourceImageId,
      lowers: [...s.layers]
        .reverse()
        .map((l) => l.dir)
        .concat(s.baseDir),
      layers: s.layers,
      baseDir: s.baseDir,
      baseImage: s.baseImage,
      config: { env: s.config.env, workingDir: s.config.workingDir, user: s.config.user, systemd: s.config.systemd },
      sizeBytes: s.sizeBytes,
    };
  }

  /** `copy -n N`: one snapshot, N new sandboxes from it, started together. */
  async fork(project: string, sandbox: string, times: number): Promise<SandboxRecord[]> {
    if (!Number.isInteger(times) || times < 1 || times > 50)
      throw new SbxError("out_of_range", "times must be a whole number from 1 to 50");
    const src = await this.sandboxes.getRunning(project, sandbox);
    const snap = await this.create(project, sandbox);
    const made = await Promise.allSettled(
      Array.from({ length: times }, () =>
        this.sandboxes.create(project, {
          snapshotId: snap.id,
          cpus: src.cpus,
          memoryMb: src.memoryMb,
          pidsLimit: src.pidsLimit,
          diskMb: src.diskMb,
          timeoutSecs: src.timeoutSecs,
          allowInternetAccess: src.allowInternetAccess,
          allowOut: src.egressEntries?.allowOut ?? src.allowOut,
          denyOut: src.egressEntries?.denyOut ?? src.denyOut,
          env: src.env,
        }),
      ),
    );
    const failed = made.find((r) => r.status === "rejected");
    if (failed) {
      for (const r of made)
        if (r.status === "fulfilled") await this.sandboxes.terminate(project, r.value.id).catch(() => undefined);
      throw failed.reason;
    }
    return made.map((r) => (r as PromiseFulfilledResult<SandboxRecord>).value);
  }

  /** `sbx image register <name> <snapshot>`: the snapshot's stack under an image name. */
  async registerImage(
    project: string,
    ref: { name: string; tag?: string },
    snapshotId: string,
    replace: boolean,
  ): Promise<ImageRecord> {
    const s = await this.get(project, snapshotId);
    if (s.status !== "completed")
      throw new SbxError(
        "failed_precondition",
        `snapshot ${snapshotId} is ${s.status}: only completed snapshots can become images`,
      );
    const name = assertValidName("image", ref.name);
    const tag = assertValidTag(ref.tag ?? "latest");
    const img: ImageRecord = {
      ref: newId("img"),
      id:
        "sha256:" +
        createHash("sha256")
          .update(JSON.stringify({ baseDir: s.baseDir, layers: s.layers.map((l) => l.digest), config: s.config }))
          .digest("hex"),
      project,
      name,
      tag,
      baseImage: s.baseImage,
      baseId: s.sourceImageId,
      baseDir: s.baseDir,
      layers: s.layers,
      config: s.config,
      sizeBytes: s.sizeBytes,
      buildId: null,
      createdAt: new Date().toISOString(),
      deletedAt: null,
    };
    await this.images.registerImage(img, replace);
    return img;
  }

  async suspend(project: string, sandbox: string): Promise<SandboxRecord> {
    const sb = await this.sandboxes.get(project, sandbox);
    if (sb.name === null)
      throw new SbxError(
        "failed_precondition",
        `sandbox ${sb.id} has no name: only named sandboxes can be suspended (create one with --name); an ephemeral sandbox can only be terminated`,
      );
    if (sb.status === "suspended") return sb;
    return this.suspendById(sb.id, "requested");
  }

  private suspendById(id: string, why: string): Promise<SandboxRecord> {
    return this.sandboxes.withLock(id, async () => {
      const sb = (await this.store.getSandbox(id))!;
      if (sb.status !== "running") return sb;
      const snap = await this.capture(sb, true);
      // Recorded before the sandbox goes, so a daemon killed in between still knows where its files are.
      await this.store.updateSandbox(id, {
        status: "suspended",
        suspendSnapshotId: snap.id,
        ipAddress: null,
        terminationReason: why === "timeout" ? "suspended at timeout" : null,
      });
      await this.sandboxes.release(sb);
      await this.store.updateSandbox(id, { netSlot: null });
      this.log.info({ sandbox: id, snapshot: snap.id, why }, "sandbox suspended");
      return (await this.store.getSandbox(id))!;
    });
  }

  async resume(project: string, sandbox: string): Promise<SandboxRecord> {
    const sb = await this.sandboxes.get(project, sandbox);
    if (sb.status === "running") return sb;
    if (sb.status !== "suspended" || !sb.suspendSnapshotId)
      throw new SbxError(
        "failed_precondition",
        `sandbox ${sb.id} is ${sb.status}: only suspended sandboxes can be resumed`,
      );
    return this.sandboxes.withLock(sb.id, async () => {
      const current = (await this.store.getSandbox(sb.id))!;
      if (current.status !== "suspended") return current;
      const snapId = current.suspendSnapshotId!;
      const resumed = await this.sandboxes.restart(current, await this.resolve(project, snapId));
      // From now on the sandbox stands on that snapshot's layers; the suspend snapshot it stood on
      // before is superseded (the new one's stack holds whatever of it is still needed).
      const superseded = await this.store.transaction(async (tx) => {
        await tx.updateSandbox(sb.id, { snapshotId: snapId, suspendSnapshotId: null, terminationReason: null });
        const previous = current.snapshotId ? await tx.getSnapshot(current.snapshotId) : undefined;
        if (!previous?.forSuspend || previous.sourceSandboxId !== sb.id) return false;
        await tx.deleteSnapshot(previous.id);
        return true;
      });
      if (superseded) {
        await this.gc
          .collect()
          .catch((err: unknown) => this.log.warn({ err }, "garbage collection after resume failed"));
      }
      this.log.info({ sandbox: sb.id, snapshot: snapId }, "sandbox resumed");
      return { ...resumed, snapshotId: snapId, suspendSnapshotId: null };
    });
  }

  /**
   * A terminated sandbox's suspend snapshots are nobody's: remove them (before the end is
   * reported), then their layers (in the background, as the collection may take a while).
   */
  private async forgetSuspendSnapshot(s: SandboxRecord): Promise<void> {
    if (s.status !== "terminated") return;
    for (const id of [s.suspendSnapshotId, s.snapshotId]) {
      const snap = id ? await this.images.getSnapshot(id) : undefined;
      if (snap?.forSuspend && snap.sourceSandboxId === s.id) await this.images.deleteSnapshot(snap.id);
    }
    void this.gc.collect().catch((err: unknown) => this.log.warn({ err }, "garbage collection after terminate failed"));
  }

  /** Daemon start: snapshots that were being taken when it died are failed, never completed. */
  async reconcile(): Promise<number> {
    const stale = (await this.images.listSnapshots()).filter((s) => s.status === "in_progress");
    for (const s of stale)
      await this.images.updateSnapshot(s.id, {
        status: "failed",
        error: "the daemon stopped while the snapshot was being taken",
      });
    return stale.length;
  }
}

function layerKey(what: string): string {
  return "sha256:" + createHash("sha256").update(`snapshot:${what}`).digest("hex");
}

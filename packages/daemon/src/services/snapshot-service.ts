// Filesystem snapshots of running sandboxes: a frozen, point-in-time copy of the writable layer
// stacked on the sandbox's own stack (deep chains are squashed), restorable into new sandboxes,
// registrable as an image. The sandbox lifecycle builds on capture() and resolve() (snapshot,
// fork, suspend, resume); this service keeps the snapshot records and their layers.
import { createHash } from "node:crypto";
import { SbxError, assertValidName, assertValidTag, newId } from "@sbx-sh/protocol";
import type { SandboxRuntime } from "../runtime/runtime.js";
import type { CommittedLayer, LayerStore } from "../layers/layer-store.js";
import type { ImageStore, Store, StoreTx } from "../store/store.js";
import type { ImageLayerRef, ImageRecord, SandboxRecord, SnapshotRecord } from "../domain/records.js";
import type { ImageGc } from "./image-gc.js";
import type { ResolvedImage } from "./images.js";
import { takingSnapshot } from "./snapshot-record.js";
import type { Logger } from "../common/log.js";
import type { EventBus } from "./event-bus.js";
import type { SandboxEvents } from "./sandbox-events.js";

/** Past this many layers a new snapshot is squashed into one (overlayfs: ≤ 500 lowers, one page of options). */
export const MAX_STACK_DEPTH = 24;

export class SnapshotService {
  /**
   * Cluster mode (a node with --registry): stores the finished stack in the cluster registry before
   * the snapshot is marked completed; a failure fails the snapshot (cluster/content-publish.ts).
   */
  publish?: (s: SnapshotRecord) => Promise<unknown>;

  constructor(
    private readonly store: Store,
    private readonly images: ImageStore,
    private readonly runtime: SandboxRuntime,
    private readonly layers: LayerStore,
    private readonly gc: ImageGc,
    events: SandboxEvents,
    private readonly log: Logger,
    /** The daemon's event stream (snapshot taken, image registered). */
    private readonly bus?: EventBus,
  ) {
    events.on("ended", (s) => this.forgetSuspendSnapshot(s));
  }

  /** Refuses a kind of snapshot this host cannot take (memory snapshots), before anything is locked. */
  assertSupported(type: "filesystem" | "memory" = "filesystem"): void {
    if (type === "memory") {
      const support = this.runtime.capabilities.memorySnapshots;
      throw new SbxError(
        "failed_precondition",
        `memory snapshots are not available on this host: ${support.reason}. Take a filesystem snapshot (the default) instead`,
      );
    }
  }

  /**
   * Snapshots a running sandbox (the caller holds its lifecycle lock); `forSuspend` marks the
   * snapshot a suspend stands on, which is nobody's to list and goes with its sandbox; `forFork`
   * the one a copy is made from and then deletes.
   */
  async capture(sb: SandboxRecord, forSuspend: boolean, forFork = false): Promise<SnapshotRecord> {
    if (sb.status !== "running") throw new SbxError("sandbox_not_running", `sandbox ${sb.id} is ${sb.status}`);
    if (!this.runtime.capabilities.liveCapture)
      throw new SbxError(
        "failed_precondition",
        `the ${this.runtime.name} runtime cannot copy a running sandbox's files: snapshots are not available`,
      );
    const source = sb.source ?? { layers: [], baseDir: sb.lowers?.at(-1) ?? "", baseImage: sb.image };
    const id = newId("snap");
    const rec = takingSnapshot(id, sb, source, forSuspend, forFork);
    await this.images.insertSnapshot(rec);
    try {
      // The key the store committed it under (its own if this one's dir were ever taken).
      const made = await this.runtime.exportLayer(sb.id, { live: true }, (layer) =>
        this.layers.commit(layer, layerKey(id)),
      );
      const own: ImageLayerRef = {
        key: made.key,
        digest: made.digest,
        dir: made.dir,
        sizeBytes: made.sizeBytes,
        step: `snapshot ${id} of ${sb.id}`,
        cached: false,
      };
      let stack = [...source.layers, own];
      let baseDir = source.baseDir;
      await this.listLayer(id, { layers: stack, baseDir }, made, own.step, rec.createdAt);
      if (stack.length > MAX_STACK_DEPTH) {
        const flat = await this.layers.flatten(
          [...stack]
            .reverse()
            .map((l) => l.dir)
            .concat(baseDir),
          layerKey(`${id}/flat`),
        );
        stack = [];
        baseDir = flat.dir;
        await this.listLayer(id, { layers: stack, baseDir }, flat, `squashed stack of ${id}`, rec.createdAt);
      }
      const sizeBytes = stack.reduce((a, l) => a + l.sizeBytes, 0);
      await this.publish?.({ ...rec, layers: stack, baseDir, sizeBytes });
      await this.images.updateSnapshot(id, {
        status: "completed",
        layers: stack,
        baseDir,
        sizeBytes,
        completedAt: new Date().toISOString(),
      });
      this.log.info({ snapshot: id, sandbox: sb.id, depth: stack.length, sizeBytes }, "snapshot taken");
      this.bus?.publish({
        type: "snapshot.taken",
        project: sb.project,
        subject: id,
        sandboxId: sb.id,
        attributes: { sizeBytes, forSuspend, durationMs: Date.now() - Date.parse(rec.createdAt) },
      });
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

  /**
   * Names `made` in the snapshot's record in the same transaction that lists its layer: a collection
   * running meanwhile (they run after every terminate) must never see a listed layer nothing references.
   */
  private async listLayer(
    id: string,
    stack: Pick<SnapshotRecord, "layers" | "baseDir">,
    made: CommittedLayer,
    step: string,
    createdAt: string,
  ): Promise<void> {
    const { key, digest, dir, sizeBytes } = made;
    await this.images.transaction(async (tx) => {
      await tx.updateSnapshot(id, stack);
      await tx.putLayer({ key, digest, dir, sizeBytes, step, createdAt });
    });
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
    this.bus?.publish({
      type: "image.registered",
      project,
      subject: img.id,
      attributes: { image: `${img.name}:${img.tag}`, snapshotId },
    });
    return img;
  }

  /**
   * Resume: the sandbox stands on its latest suspend snapshot now, so the one it stood on before
   * (`previousId`, if that was its own suspend snapshot) is superseded and removed, in the caller's
   * transaction. Answers whether one was; its layers go with collectAfterResume().
   */
  async dropSuperseded(tx: StoreTx, sandboxId: string, previousId: string | null | undefined): Promise<boolean> {
    const previous = previousId ? await tx.getSnapshot(previousId) : undefined;
    if (!previous?.forSuspend || previous.sourceSandboxId !== sandboxId) return false;
    await tx.deleteSnapshot(previous.id);
    return true;
  }

  /** The layers of a superseded suspend snapshot, once nothing else uses them. */
  async collectAfterResume(): Promise<void> {
    await this.gc.collect().catch((err: unknown) => this.log.warn({ err }, "garbage collection after resume failed"));
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

  /**
   * Daemon start: snapshots that were being taken when it died are failed, never completed. A
   * copy's own snapshots are deleted (their layers go in the collection that follows): the copy
   * that was to delete them died with the daemon, and the user never asked for them.
   */
  async reconcile(): Promise<number> {
    const all = await this.images.listSnapshots();
    for (const s of all.filter((x) => x.forFork)) await this.images.deleteSnapshot(s.id);
    const stale = all.filter((s) => !s.forFork && s.status === "in_progress");
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

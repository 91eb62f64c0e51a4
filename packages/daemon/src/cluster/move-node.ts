// A node's side of moving a named sandbox (sbxd --role node --registry …): the control plane asks
// the node it leaves to suspend it (its suspend snapshot is pushed to the cluster registry before
// it counts as suspended, as every suspend) and to describe it (move-spec.ts); then it asks the node
// it goes to to adopt it: pull the snapshot by digest, record the sandbox under the same id and name
// as suspended, and resume it there. Both steps can be asked again after an interruption: a
// sandbox already suspended is described again (its snapshot re-published: blobs the registry has
// are skipped, so the same manifest comes back), one already adopted is answered as it is.
import { SbxError } from "@sbx-sh/protocol";
import type { Logger } from "../common/log.js";
import type { CreateSandbox } from "../domain/commands.js";
import type { SandboxRecord } from "../domain/records.js";
import { resolveEgress } from "../services/egress.js";
import { checkCreate, checkEgress, newSandboxRecord } from "../services/sandbox-launch.js";
import type { SandboxService } from "../services/sandbox-service.js";
import type { SnapshotService } from "../services/snapshot-service.js";
import type { Stores } from "../store/store.js";
import type { NodeContent } from "./content-node.js";
import { specOf, type MovePayload } from "./move-spec.js";

export interface NodeMovesDeps {
  stores: Stores;
  sandboxes: SandboxService;
  snapshots: SnapshotService;
  content: NodeContent;
  log: Logger;
}

export class NodeMoves {
  constructor(private readonly d: NodeMovesDeps) {}

  /** Suspends the named sandbox (if it runs) and describes it for the node it moves to. */
  async moveOut(project: string, idOrName: string): Promise<MovePayload & { was: "running" | "suspended" }> {
    let sb = await this.d.sandboxes.get(project, idOrName);
    if (!sb.name)
      throw new SbxError(
        "failed_precondition",
        `sandbox ${sb.id} has no name: only named sandboxes move; it stays on this node until it ends`,
      );
    if (sb.volumes?.length)
      throw new SbxError("failed_precondition", `sandbox ${sb.name} mounts volumes, which stay on their node`);
    const was = sb.status === "running" ? "running" : "suspended";
    if (sb.status === "running") sb = await this.d.sandboxes.suspend(project, sb.id);
    if (sb.status !== "suspended" || !sb.suspendSnapshotId)
      throw new SbxError("failed_precondition", `sandbox ${sb.name} is ${sb.status}: it cannot move`);
    const snap = await this.d.stores.images.getSnapshot(sb.suspendSnapshotId);
    if (!snap || snap.status !== "completed")
      throw new SbxError("failed_precondition", `sandbox ${sb.name}'s suspend snapshot is missing on this node`);
    // Pushed when it was taken (the answer is kept once); asked again after an interruption, re-published.
    const manifest = this.d.content.publisher.manifestOf(snap.id) ?? (await this.d.content.publisher.publish(snap));
    return {
      sandbox: specOf(sb),
      snapshot: { id: snap.id, manifest },
      secrets: await this.d.sandboxes.secretsOf(sb),
      was,
    };
  }

  /** Adopts a sandbox moved here: pulls its suspend snapshot, records it suspended, resumes it. */
  async moveIn(project: string, m: MovePayload): Promise<SandboxRecord> {
    const { stores, sandboxes } = this.d;
    const spec = m.sandbox;
    const have = await stores.meta.getSandbox(spec.id);
    if (have && have.project !== project) throw new SbxError("already_exists", `sandbox ${spec.id} exists here`);
    if (have?.status === "running") return have;
    if (have?.status === "suspended" && have.suspendSnapshotId === m.snapshot.id)
      return sandboxes.resume(project, spec.id);
    // An ended copy from an earlier stay on this node, or one a failed adoption left: replaced.
    if (have && have.status !== "terminated" && have.status !== "suspended")
      throw new SbxError("failed_precondition", `sandbox ${spec.id} is ${have.status} on this node`);
    if (have?.status === "suspended") await sandboxes.terminate(project, spec.id, "moved");
    if (have) await stores.meta.deleteSandbox(spec.id);
    const named = await stores.meta.findSandboxByName(project, spec.name);
    if (named && named.id !== spec.id && named.status !== "terminated")
      throw new SbxError("already_exists", `another sandbox named ${spec.name} runs on this node`);
    const snap = await this.d.content.fetcher.fetchSnapshot(project, m.snapshot.id, m.snapshot.manifest);
    // It is this sandbox's suspend snapshot here too: superseded at its next resume, forgotten when it ends.
    if (snap.sourceSandboxId === spec.id) await stores.images.updateSnapshot(snap.id, { forSuspend: true });
    const image = await this.d.snapshots.resolve(project, snap.id);
    const cmd: CreateSandbox = {
      name: spec.name,
      cpus: spec.cpus,
      memoryMb: spec.memoryMb,
      pidsLimit: spec.pidsLimit,
      diskMb: spec.diskMb,
      timeoutSecs: spec.timeoutSecs,
      allowInternetAccess: spec.allowInternetAccess,
      allowOut: spec.allowOut,
      denyOut: spec.denyOut,
      env: spec.env,
      labels: spec.labels,
      ...(spec.secretNames.length ? { secrets: m.secrets } : {}),
    };
    checkCreate(cmd);
    const egress = await resolveEgress(cmd);
    checkEgress(cmd, egress);
    const rec = newSandboxRecord(project, spec.id, cmd, image, egress, null);
    rec.status = "suspended";
    rec.suspendSnapshotId = snap.id;
    rec.snapshotId = null;
    rec.createdAt = spec.createdAt;
    rec.image = spec.image;
    rec.config.entrypoint = spec.entrypoint;
    if (spec.secretNames.length) await sandboxes.adoptSecrets(spec.id, m.secrets);
    await stores.meta.insertSandbox(rec);
    try {
      const resumed = await sandboxes.resume(project, spec.id);
      this.d.log.info({ sandbox: spec.id, name: spec.name, snapshot: snap.id }, "sandbox moved here");
      return resumed;
    } catch (err) {
      // Nothing half made stays: the control plane keeps it where it was.
      await sandboxes.terminate(project, spec.id, "error").catch(() => undefined);
      throw err;
    }
  }
}

// Moving named sandboxes between nodes, as the control plane does it: `sbx node drain` (every named
// sandbox on the node moves: suspended there, resumed on another ready node with its id and name)
// and a resume of a suspended sandbox whose node is lost or draining (started on another node from
// its suspend snapshot in the cluster registry). The steps and their records are sandbox-moves.ts;
// the nodes' side is move-node.ts. A sandbox that cannot move stays where it was, running (its
// error is reported for it alone); one whose node is lost stays parked, resumable later.
import type { Pool } from "pg";
import { SbxError, isErrorCode, toSbxError, type DrainOutcome, type DrainSummary } from "@sbx-sh/protocol";
import type { Logger } from "../common/log.js";
import { planDrain, type DrainStep } from "./drain-plan.js";
import { checkMovePayload, MAX_MOVE_BYTES, MOVE_IN_PATH, MOVE_OUT_PATH, type MovePayload } from "./move-spec.js";
import { boundedText, forwardHttp } from "./node-forward.js";
import { type NodeTarget } from "./node-target.js";
import { deriveNodeKey } from "./node-key.js";
import type { NodeRegistry } from "./node-registry.js";
import type { MoveRow } from "./move-rows.js";
import { SandboxMoves } from "./sandbox-moves.js";

type Moved = { ok: true; to: string; info: unknown } | { ok: false; error: SbxError };

export class SandboxMover {
  readonly moves: SandboxMoves;
  /** Sandboxes whose suspend is being recorded from a node's report (not asked twice at once). */
  private readonly recording = new Set<string>();

  constructor(
    private readonly pool: Pool,
    private readonly o: { secret: string; nodeCa?: Buffer; log: Logger; nodes: NodeRegistry },
  ) {
    this.moves = new SandboxMoves(pool);
  }

  /** Marks the node draining, then moves its named sandboxes one by one; `on` hears each step. */
  async drain(node: string, on: (o: DrainOutcome) => void = () => undefined): Promise<DrainSummary> {
    await this.o.nodes.setState(node, "draining");
    const plan = planDrain(await this.moves.placedOn(node), await this.moves.from(node));
    const out: DrainOutcome[] = [];
    for (const step of plan) {
      const base = { sandbox: step.sandboxId, name: step.name, project: step.project, from: node };
      let o: DrainOutcome;
      if (step.action === "stay")
        o = { ...base, outcome: "stays", reason: "unnamed sandboxes stay on their node until they end" };
      else if (step.action === "parked")
        o = { ...base, outcome: "suspended", reason: "suspended: `sbx resume` starts it on another node" };
      else {
        on({ ...base, outcome: "moving" });
        o = await this.moveNamed(step, node).catch((err: unknown) => failed(base, toSbxError(err)));
      }
      this.o.log.info({ node, sandbox: o.sandbox, outcome: o.outcome, to: o.to, err: o.error?.message }, "drain");
      out.push(o);
      on(o);
    }
    const count = (k: DrainOutcome["outcome"]): number => out.filter((x) => x.outcome === k).length;
    return {
      node,
      moved: count("moved"),
      failed: count("failed"),
      suspended: count("suspended"),
      stays: count("stays"),
      sandboxes: out,
    };
  }

  /** One named sandbox of a drained node: suspended there, resumed elsewhere (or a step already reached, on). */
  private moveNamed(step: Extract<DrainStep, { action: "move" }>, from: string): Promise<DrainOutcome> {
    const base = { sandbox: step.sandboxId, name: step.name, project: step.project, from };
    return this.moves.locked(step.sandboxId, async () => {
      let row = await this.moves.get(step.sandboxId);
      if (!row && step.resume !== null) return { ...base, outcome: "moved" as const, reason: "another request did it" };
      const fresh = !row;
      // Nowhere to go: it is not suspended for nothing (placement checks again when it moves).
      if (fresh && !(await this.moves.roomElsewhere(step.sandboxId)))
        return failed(
          base,
          new SbxError(
            "failed_precondition",
            "no other ready node has room for it (cordoned, draining and lost nodes take none)",
          ),
        );
      row ??= await this.moves.begin({ ...step }, from, "drain");
      if (row.state === "suspended") return { ...base, outcome: "suspended" as const };
      const old = await this.target(from, step.project);
      let payload: MovePayload;
      try {
        payload = await this.describe(row, old);
      } catch (err) {
        await this.giveBack(row, old);
        return failed(base, toSbxError(err));
      }
      if (fresh && (payload as { was?: string }).was === "suspended") {
        // Suspended before the drain: parked, it resumes on another node when asked to.
        await this.moves.described(step.sandboxId, payload.sandbox, payload.snapshot, "suspended");
        return { ...base, outcome: "suspended" as const, reason: "suspended: `sbx resume` starts it on another node" };
      }
      if (row.state !== "placed")
        await this.moves.described(step.sandboxId, payload.sandbox, payload.snapshot, "moving");
      const r = await this.finish(step.sandboxId, payload, old);
      return r.ok ? { ...base, outcome: "moved" as const, to: r.to } : failed(base, r.error);
    });
  }

  /**
   * A resume of a parked sandbox whose node is lost or draining: started on another ready node from
   * its suspend snapshot. Answers the new node's SandboxInfo; an error leaves it parked.
   */
  async resumeElsewhere(project: string, sandboxId: string, node: string): Promise<unknown> {
    return this.moves.locked(sandboxId, async () => {
      const row = await this.moves.get(sandboxId);
      if (!row || row.project !== project || row.state === "suspending")
        throw new SbxError(
          "failed_precondition",
          `sandbox ${sandboxId} cannot be resumed elsewhere: its node ${node} is not reachable and the control plane ` +
            "has no suspend snapshot of it in the cluster registry (it was running when its node was lost, or was " +
            "suspended by the node itself); it comes back if its node does",
          { sandbox: sandboxId, node },
        );
      if (row.state === "suspended") await this.moves.claim(sandboxId, "resume");
      const old = await this.target(row.from, project);
      let payload: MovePayload;
      try {
        payload = await this.describe(row, old);
      } catch (err) {
        await this.giveBack((await this.moves.get(sandboxId)) ?? row, old);
        throw err;
      }
      const r = await this.finish(sandboxId, payload, old);
      if (!r.ok) throw r.error;
      return r.info;
    });
  }

  /** After a suspend through the control plane: recorded, so it can be resumed on another node later. */
  async recordSuspend(project: string, sandboxId: string, name: string | null, node: string): Promise<void> {
    if (name === null) return;
    const t = await this.target(node, project);
    if (!t) return;
    const p = await this.out(t, sandboxId);
    await this.moves.parked({ sandboxId, project, name }, node, p.sandbox, p.snapshot);
  }

  /**
   * A node's report named suspended sandboxes: those named, placed there and not recorded (the node
   * suspended them by itself, at their timeout) are described and recorded, in the background (one
   * at a time per sandbox), so they too can resume on another node if this one is lost.
   */
  recordReported(node: string, suspended: string[] | undefined): void {
    if (!suspended?.length) return;
    void (async () => {
      for (const p of await this.moves.unrecorded(node, suspended)) {
        if (this.recording.has(p.sandboxId)) continue;
        this.recording.add(p.sandboxId);
        await this.recordSuspend(p.project, p.sandboxId, p.name, node)
          .catch((err: Error) => this.o.log.warn({ sandbox: p.sandboxId, err: err.message }, "suspend not recorded"))
          .finally(() => this.recording.delete(p.sandboxId));
      }
    })().catch((err: Error) => this.o.log.warn({ node, err: err.message }, "reported suspends not recorded"));
  }

  /** Its placement moves to another node and that node adopts it; a refusal there puts it back. */
  private async finish(sandboxId: string, payload: MovePayload, old: NodeTarget | null): Promise<Moved> {
    const row = (await this.moves.get(sandboxId))!;
    let to = row.to;
    if (row.state === "moving") {
      try {
        to = await this.moves.placeElsewhere(sandboxId);
      } catch (err) {
        await this.moves.forget(sandboxId, ["moving"]);
        await this.backOn(row, old);
        return { ok: false, error: toSbxError(err) };
      }
    }
    try {
      const t = await this.target(to!, row.project);
      if (!t) throw new SbxError("node_unavailable", `node ${to} stopped answering`);
      const info = await this.call(t, MOVE_IN_PATH, payload);
      await this.moves.confirm(sandboxId, info);
      // Its old copy goes now if the node answers (it was given up in the confirm, so it goes anyway).
      if (old)
        await forwardHttp(
          old,
          new Request(`http://node/v1/sandboxes/${sandboxId}`, { method: "DELETE" }),
          `/v1/sandboxes/${sandboxId}`,
        )
          .then((res) => res.body?.cancel())
          .catch(() => undefined);
      this.o.log.info({ sandbox: sandboxId, from: row.from, to }, "sandbox moved");
      return { ok: true, to: to!, info };
    } catch (err) {
      await this.moves.undo(sandboxId);
      await this.backOn(row, old);
      return { ok: false, error: toSbxError(err) };
    }
  }

  /** A move that could not be described: undone from the step it reached; it stays where it was. */
  private async giveBack(row: MoveRow, old: NodeTarget | null): Promise<void> {
    if (row.state === "suspending") {
      // Not suspended, or not known to be: resumed if its node answers (a no-op if it runs).
      if (old) await this.resumeOn(old, row.sandboxId).catch(() => undefined);
      await this.moves.forget(row.sandboxId, ["suspending"]);
      return;
    }
    if (row.state === "placed") await this.moves.undo(row.sandboxId);
    else if (row.state === "moving") await this.moves.forget(row.sandboxId, ["moving"]);
    await this.backOn(row, old);
  }

  /** After a failed move: running again on its node if that answers; parked (resumable later) if not. */
  private async backOn(row: MoveRow, old: NodeTarget | null): Promise<void> {
    if (!old) return this.park(row);
    await this.resumeOn(old, row.sandboxId).catch((err: Error) =>
      this.o.log.warn({ sandbox: row.sandboxId, err: err.message }, "resume after a failed move failed"),
    );
    await this.moves.forget(row.sandboxId, ["suspended"]);
  }

  private async park(row: MoveRow): Promise<void> {
    if (row.spec && row.snapshot)
      await this.moves.parked({ ...row }, row.from, row.spec, row.snapshot).catch(() => undefined);
  }

  /** What moves: asked again of its node when it answers (with its secrets), else from the row. */
  private async describe(row: MoveRow, old: NodeTarget | null): Promise<MovePayload> {
    if (old) return this.out(old, row.sandboxId);
    if (!row.spec || !row.snapshot)
      throw new SbxError("node_unavailable", `node ${row.from} stopped answering before it suspended the sandbox`);
    if (row.spec.secretNames.length)
      throw new SbxError(
        "failed_precondition",
        `sandbox ${row.name} was created with secrets, whose values only its node ${row.from} kept: it cannot be resumed elsewhere`,
      );
    return { sandbox: row.spec, snapshot: row.snapshot, secrets: {} };
  }

  private async out(t: NodeTarget, sandboxId: string): Promise<MovePayload & { was?: string }> {
    const raw = (await this.call(t, MOVE_OUT_PATH, { sandbox: sandboxId })) as { was?: unknown };
    const p = checkMovePayload(raw, { id: sandboxId, name: null });
    return raw.was === "suspended" ? { ...p, was: "suspended" } : p;
  }

  private async resumeOn(t: NodeTarget, sandboxId: string): Promise<void> {
    const path = `/v1/sandboxes/${encodeURIComponent(sandboxId)}/resume`;
    const res = await forwardHttp(t, new Request(`http://node${path}`, { method: "POST" }), path);
    const text = await boundedText(res, MAX_MOVE_BYTES);
    if (!res.ok) throw nodeError(t.node, text);
  }

  private async call(t: NodeTarget, path: string, body: unknown): Promise<unknown> {
    const req = new Request(`http://node${path}`, { method: "POST", headers: { "content-type": "application/json" } });
    const res = await forwardHttp(t, req, path, { body: new TextEncoder().encode(JSON.stringify(body)) });
    const text = await boundedText(res, MAX_MOVE_BYTES);
    if (!res.ok) throw nodeError(t.node, text);
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new SbxError("node_unavailable", `node ${t.node} answered with something that is not JSON`);
    }
  }

  /** The node as a call target, or null when it is lost, revoked or its lease ran out. */
  async target(node: string, project: string): Promise<NodeTarget | null> {
    const { rows } = await this.pool.query<{ address: string | null; key_salt: string; live: boolean }>(
      `SELECT address, key_salt, state NOT IN ('lost', 'revoked', 'new') AND lease_expires_at > now() AS live
       FROM nodes WHERE name = $1`,
      [node],
    );
    const n = rows[0];
    if (!n?.live || !n.address) return null;
    return {
      node,
      address: n.address,
      key: deriveNodeKey(this.o.secret, node, n.key_salt),
      project,
      ...(this.o.nodeCa ? { ca: this.o.nodeCa } : {}),
    };
  }
}

function failed(base: Omit<DrainOutcome, "outcome">, err: SbxError): DrainOutcome {
  return {
    ...base,
    outcome: "failed",
    reason: `it stays on ${base.from}`,
    error: { code: err.code, message: err.message },
  };
}

/** A node's error answer as the caller's error, naming the node. */
function nodeError(node: string, text: string): SbxError {
  let e: { code?: unknown; message?: unknown } | undefined;
  try {
    e = (JSON.parse(text) as { error?: typeof e }).error;
  } catch {
    e = undefined;
  }
  const code = isErrorCode(e?.code) ? e.code : "internal";
  const message = typeof e?.message === "string" ? e.message.slice(0, 2000) : text.slice(0, 200);
  return new SbxError(code, `node ${node}: ${message}`, { node });
}

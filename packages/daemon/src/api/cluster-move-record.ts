// What a suspend, resume or terminate through the control plane does to the record that lets a
// suspended named sandbox start on another node when its own is lost (cluster/sandbox-mover.ts):
// a suspend the node did is recorded with its snapshot; a resume or terminate forgets the record,
// so a running (or ended) sandbox is never started elsewhere from an old snapshot. Both of the
// control plane's APIs run it (api/cluster-routing.ts for sbx's, api/cluster-tensorlake.ts), on
// the node's successful answer, with --registry (without it there is no mover and no record).
import type { ClusterRouting } from "../cluster/cluster-role.js";
import type { SandboxLocation } from "../cluster/sandbox-directory.js";

/**
 * A suspend through the control plane is recorded with its snapshot, so the sandbox can be resumed
 * on another node if its own is lost; a resume or terminate there forgets the record.
 */
export async function keepMoveRecord(
  r: ClusterRouting,
  method: string,
  rest: string | undefined,
  at: SandboxLocation,
  project: string,
): Promise<void> {
  const mover = r.mover!;
  if (method === "POST" && rest === "/suspend")
    await mover
      .recordSuspend(project, at.sandboxId, at.name, at.node)
      .catch((err: Error) =>
        r.log.warn({ sandbox: at.sandboxId, err: err.message }, "suspend not recorded for a move"),
      );
  else if ((method === "POST" && rest === "/resume") || (method === "DELETE" && !rest))
    await mover.moves.forget(at.sandboxId, ["suspended"]);
}

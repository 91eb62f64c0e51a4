// What a drain of a node does with each sandbox there, decided from PostgreSQL's rows alone (pure,
// so it is tested without nodes): named sandboxes move (a move an earlier drain left half done goes
// on from the step it reached), sandboxes already parked suspended stay suspended (`sbx resume`
// starts them on another node), unnamed ones stay until they end (nothing can find them again
// under a new node, and they are meant to be short-lived). Moves in flight come first, then new
// moves in placement order, then the sandboxes that stay.
import type { MoveRow, MoveState, NodePlacement } from "./move-rows.js";

export type DrainStep =
  | {
      action: "move";
      sandboxId: string;
      project: string;
      name: string;
      /** The step an earlier, interrupted move reached; null: a new move. */
      resume: Exclude<MoveState, "suspended"> | null;
    }
  | { action: "parked"; sandboxId: string; project: string; name: string }
  | { action: "stay"; sandboxId: string; project: string; name: null };

export function planDrain(placed: NodePlacement[], moves: MoveRow[]): DrainStep[] {
  const inFlight: DrainStep[] = [];
  const parked: DrainStep[] = [];
  const fresh: DrainStep[] = [];
  const stay: DrainStep[] = [];
  const seen = new Set<string>();
  // Rows first: a move already placed on another node is no longer among this node's placements.
  for (const m of moves) {
    seen.add(m.sandboxId);
    const base = { sandboxId: m.sandboxId, project: m.project, name: m.name };
    if (m.state === "suspended") parked.push({ action: "parked", ...base });
    else inFlight.push({ action: "move", ...base, resume: m.state });
  }
  for (const p of placed) {
    if (seen.has(p.sandboxId)) continue;
    seen.add(p.sandboxId);
    if (p.name === null) stay.push({ action: "stay", sandboxId: p.sandboxId, project: p.project, name: null });
    else fresh.push({ action: "move", sandboxId: p.sandboxId, project: p.project, name: p.name, resume: null });
  }
  return [...inFlight, ...fresh, ...parked, ...stay];
}

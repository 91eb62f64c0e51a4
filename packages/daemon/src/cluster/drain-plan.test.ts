// The drain planner: which sandboxes of a node move, which stay, and where an interrupted move goes on.
import { describe, expect, it } from "vitest";
import { planDrain } from "./drain-plan.js";
import type { MoveRow } from "./move-rows.js";

const row = (sandboxId: string, state: MoveRow["state"], to: string | null = null): MoveRow => ({
  sandboxId,
  project: "p",
  name: `n-${sandboxId}`,
  from: "n1",
  to,
  state,
  why: "drain",
  spec: null,
  snapshot: null,
});

describe("planDrain", () => {
  it("moves named sandboxes, leaves unnamed ones, in placement order", () => {
    const plan = planDrain(
      [
        { sandboxId: "a", project: "p", name: "web" },
        { sandboxId: "b", project: "p", name: null },
        { sandboxId: "c", project: "q", name: "db" },
      ],
      [],
    );
    expect(plan).toEqual([
      { action: "move", sandboxId: "a", project: "p", name: "web", resume: null },
      { action: "move", sandboxId: "c", project: "q", name: "db", resume: null },
      { action: "stay", sandboxId: "b", project: "p", name: null },
    ]);
  });

  it("goes on with interrupted moves first, from the step they reached, each once", () => {
    const plan = planDrain(
      [
        { sandboxId: "a", project: "p", name: "n-a" },
        { sandboxId: "s", project: "p", name: "n-s" },
        { sandboxId: "m", project: "p", name: "n-m" },
        { sandboxId: "f", project: "p", name: "fresh" },
      ],
      // "pl" is already placed on n2 (no longer among n1's placements) but not confirmed.
      [row("a", "suspending"), row("m", "moving"), row("pl", "placed", "n2"), row("s", "suspended")],
    );
    expect(plan.map((s) => [s.sandboxId, s.action, s.action === "move" ? s.resume : "-"])).toEqual([
      ["a", "move", "suspending"],
      ["m", "move", "moving"],
      ["pl", "move", "placed"],
      ["f", "move", null],
      ["s", "parked", "-"],
    ]);
  });

  it("a node with nothing on it plans nothing", () => {
    expect(planDrain([], [])).toEqual([]);
  });
});

// Unit tests of the sandbox state machine: the lifecycle's moves are allowed, nothing else is.
import { describe, expect, it } from "vitest";
import { assertTransition, canTransition, isFinal, type SandboxStatus } from "./sandbox-state.js";

const ALL: SandboxStatus[] = ["pending", "running", "suspended", "terminated"];

describe("sandbox state machine", () => {
  it("allows the lifecycle's moves", () => {
    // create: pending → running, or → terminated when the start fails
    expect(canTransition("pending", "running")).toBe(true);
    expect(canTransition("pending", "terminated")).toBe(true);
    // suspend, and terminate (requested, timeout, died)
    expect(canTransition("running", "suspended")).toBe(true);
    expect(canTransition("running", "terminated")).toBe(true);
    // resume restarts through pending; a failed restart goes back to suspended
    expect(canTransition("suspended", "pending")).toBe(true);
    expect(canTransition("pending", "suspended")).toBe(true);
    expect(canTransition("suspended", "terminated")).toBe(true);
  });

  it("refuses everything else: terminated is final, running never goes back to pending", () => {
    for (const to of ALL) expect(canTransition("terminated", to), `terminated → ${to}`).toBe(false);
    expect(canTransition("running", "pending")).toBe(false);
    expect(canTransition("suspended", "running")).toBe(false);
    for (const s of ALL) expect(canTransition(s, s), `${s} → ${s}`).toBe(false);
    expect(() => assertTransition("sb-1", "terminated", "running")).toThrow(
      expect.objectContaining({ code: "internal", message: "sandbox sb-1 cannot go from terminated to running" }),
    );
    expect(() => assertTransition("sb-1", "running", "suspended")).not.toThrow();
    expect(ALL.filter(isFinal)).toEqual(["terminated"]);
  });
});

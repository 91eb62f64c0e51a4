// Which config-only steps' rows garbage collection drops: those chained, directly or through other
// config steps, from a row that is gone; never one a build holds or one chained from the base.
import { describe, expect, it } from "vitest";
import type { LayerRecord } from "../domain/records.js";
import { baseKey, staleConfigSteps } from "./step-cache.js";

const layer = (key: string): LayerRecord => ({
  key,
  digest: "sha256:d",
  dir: `/l/${key}`,
  sizeBytes: 1,
  step: "RUN",
  createdAt: "t",
});
const config = (key: string, parent?: string): LayerRecord => ({
  ...{ key, digest: null, dir: null, sizeBytes: 0, step: "ENV", createdAt: "t" },
  ...(parent === undefined ? {} : { parent }),
});

describe("staleConfigSteps", () => {
  it("gives the config rows chained from a gone row, and those chained from them", () => {
    const rows = [layer("l1"), config("c1", "l1"), config("c2", "gone"), config("c3", "c2"), config("c4", "c3")];
    expect(staleConfigSteps(rows, new Set()).sort()).toEqual(["c2", "c3", "c4"]);
  });

  it("keeps what a build holds, what chains from it, rows chained from a base and rows that name no parent", () => {
    const rows = [
      ...[config("held", "gone"), config("under-held", "held")],
      ...[config("on-held-key", "building"), config("from-base", baseKey("sha256:b", "p"))],
      ...[config("from-plain-base", baseKey("sha256:b")), config("older")],
    ];
    expect(staleConfigSteps(rows, new Set(["held", "building"]))).toEqual([]);
    expect(staleConfigSteps(rows, new Set(["building"]))).toEqual(["held", "under-held"]);
  });
});

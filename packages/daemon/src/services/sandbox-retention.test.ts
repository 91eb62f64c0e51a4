import { describe, expect, it } from "vitest";
import type { SandboxRecord } from "../domain/records.js";
import { SandboxRetention } from "./sandbox-retention.js";

const log = { info() {}, warn() {}, error() {}, debug() {} } as never;

function rec(id: string, status: SandboxRecord["status"], endedAgoSecs: number | null, project = "p"): SandboxRecord {
  return {
    id,
    project,
    status,
    createdAt: new Date(Date.now() - 10 * 86400_000).toISOString(),
    terminatedAt: endedAgoSecs === null ? null : new Date(Date.now() - endedAgoSecs * 1000).toISOString(),
  } as SandboxRecord;
}

function fakeStore(records: SandboxRecord[]) {
  const live = new Map(records.map((r) => [r.id, r]));
  return {
    live,
    async listSandboxes(f: { project?: string; includeTerminated?: boolean }) {
      return [...live.values()].filter(
        (r) =>
          (f.project === undefined || r.project === f.project) && (f.includeTerminated || r.status !== "terminated"),
      );
    },
    async deleteSandbox(id: string) {
      return live.delete(id);
    },
  };
}

describe("SandboxRetention", () => {
  it("forgets terminated sandboxes past the retention and keeps the rest", async () => {
    const store = fakeStore([
      rec("old", "terminated", 7200),
      rec("recent", "terminated", 60),
      rec("running", "running", null),
      rec("other-old", "terminated", 7200, "q"),
    ]);
    const r = new SandboxRetention(store, 3600, log);
    expect((await r.prune("p")).map((s) => s.id)).toEqual(["old"]);
    expect([...store.live.keys()].sort()).toEqual(["other-old", "recent", "running"]);
    // `sbx prune`: everything terminated of the project, now.
    expect((await r.prune("p", 0)).map((s) => s.id)).toEqual(["recent"]);
    expect([...store.live.keys()].sort()).toEqual(["other-old", "running"]);
  });
});

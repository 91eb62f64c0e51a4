import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pruneLogs } from "./log-retention.js";

const isRoot = process.getuid?.() === 0;

describe.skipIf(!isRoot)("pruneLogs on a real 1 MiB tmpfs (needs root)", () => {
  const dir = mkdtempSync(join(tmpdir(), "sbx-logs-"));
  beforeAll(() => {
    expect(spawnSync("mount", ["-t", "tmpfs", "-o", "size=1m", "sbx-logs-test", dir]).status).toBe(0);
  });
  afterAll(() => {
    spawnSync("umount", [dir]);
    rmSync(dir, { recursive: true, force: true });
  });

  const file = (name: string, kib: number): string => {
    const p = join(dir, name);
    writeFileSync(p, Buffer.alloc(kib * 1024));
    return p;
  };

  it("does nothing while the logs are at most half full", async () => {
    const a = file("a.out", 256);
    expect(await pruneLogs(dir, [{ endedAt: "2026-01-01T00:00:00Z", files: [a] }])).toBe(0);
    expect(existsSync(a)).toBe(true);
  });

  it("deletes the oldest exited processes' logs until half is free, and nothing outside the dir", async () => {
    const older = [file("old.out", 200), file("old.err", 100)];
    const newer = file("new.out", 200);
    const outside = join(tmpdir(), `sbx-logs-outside-${process.pid}`);
    writeFileSync(outside, "keep");
    const pruned = await pruneLogs(dir, [
      { endedAt: "2026-01-03T00:00:00Z", files: [newer, outside] },
      { endedAt: "2026-01-02T00:00:00Z", files: older },
    ]);
    expect(pruned).toBe(1);
    expect(older.map(existsSync)).toEqual([false, false]);
    expect(existsSync(newer)).toBe(true);
    expect(existsSync(outside)).toBe(true);
    rmSync(outside);
  });
});

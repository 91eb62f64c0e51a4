import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { RANGE_SIZE, UidRanges } from "./uid-ranges.js";

function setup(hosts: { passwd?: string; subuid?: string } = {}): {
  dir: string;
  files: { passwd: string[]; ranges: string[] };
} {
  const dir = mkdtempSync(join(tmpdir(), "uid-ranges-"));
  mkdirSync(join(dir, "sandboxes"));
  writeFileSync(join(dir, "passwd"), hosts.passwd ?? "root:x:0:0::/root:/bin/sh\n");
  writeFileSync(join(dir, "subuid"), hosts.subuid ?? "");
  return { dir, files: { passwd: [join(dir, "passwd")], ranges: [join(dir, "subuid")] } };
}

function sandboxDir(dir: string, id: string): string {
  const d = join(dir, "sandboxes", id);
  mkdirSync(d, { recursive: true });
  return d;
}

describe("UidRanges", () => {
  it("gives each sandbox its own range above the storage range, and reuses freed ones", () => {
    const { dir, files } = setup();
    const r = new UidRanges({ sandboxesDir: join(dir, "sandboxes"), storageBase: 100000, hostIdFiles: files });
    const a = r.allocate("a", sandboxDir(dir, "a"));
    const b = r.allocate("b", sandboxDir(dir, "b"));
    expect(a).toBe(100000 + RANGE_SIZE);
    expect(b).toBe(100000 + 2 * RANGE_SIZE);
    expect(r.allocate("a", sandboxDir(dir, "a"))).toBe(a);
    r.release("a");
    expect(r.allocate("c", sandboxDir(dir, "c"))).toBe(a);
  });

  it("skips ranges that overlap host accounts or subordinate ranges", () => {
    const { dir, files } = setup({
      passwd: `u:x:${100000 + RANGE_SIZE + 5}:0::/:/bin/sh\n`,
      subuid: `v:${100000 + 2 * RANGE_SIZE}:65536\n`,
    });
    const r = new UidRanges({ sandboxesDir: join(dir, "sandboxes"), storageBase: 100000, hostIdFiles: files });
    expect(r.allocate("a", sandboxDir(dir, "a"))).toBe(100000 + 3 * RANGE_SIZE);
  });

  it("rebuilds its table from the sandboxes' dirs, and frees what reconciliation drops", () => {
    const { dir, files } = setup();
    const opts = { sandboxesDir: join(dir, "sandboxes"), storageBase: 100000, hostIdFiles: files };
    const first = new UidRanges(opts);
    const a = first.allocate("a", sandboxDir(dir, "a"));
    first.allocate("b", sandboxDir(dir, "b"));
    const again = new UidRanges(opts);
    expect(again.of("a")).toBe(a);
    expect(again.allocate("c", sandboxDir(dir, "c"))).toBe(100000 + 3 * RANGE_SIZE);
    again.retain(new Set(["b", "c"]));
    expect(again.of("a")).toBeUndefined();
    expect([again.of("b"), again.of("c")]).toEqual([100000 + 2 * RANGE_SIZE, 100000 + 3 * RANGE_SIZE]);
  });
});

// Spool: a block that comes after the export was abandoned (compression still in flight when the
// reader left) is dropped, and makes no file that nothing would remove.
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Spool } from "./spool.js";

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe("Spool", () => {
  it("discard() before the first write: a later write makes no file", async () => {
    const dir = await mkdtemp(join(tmpdir(), "sbx-spool-"));
    dirs.push(dir);
    const path = join(dir, "blob");
    const spool = new Spool({ path, memoryLimit: 0 });
    await spool.discard();
    expect(spool.write(Buffer.alloc(1024, 1))).toBeUndefined();
    await new Promise((r) => setTimeout(r, 20));
    expect(existsSync(path)).toBe(false);
    expect(spool.size).toBe(0);
  });

  it("discard() after writes to its file removes the file", async () => {
    const dir = await mkdtemp(join(tmpdir(), "sbx-spool-"));
    dirs.push(dir);
    const path = join(dir, "blob");
    const spool = new Spool({ path, memoryLimit: 0 });
    await spool.write(Buffer.alloc(1024, 1));
    await spool.discard();
    spool.write(Buffer.alloc(1024, 2));
    await new Promise((r) => setTimeout(r, 20));
    expect(existsSync(path)).toBe(false);
  });
});

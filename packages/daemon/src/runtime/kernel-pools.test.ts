// liftKernelPools on a stand-in for /proc/sys: each pool raised to its ceiling when lower, left alone otherwise.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { liftKernelPools } from "./kernel-pools.js";

function procSys(fileMax: string, ptyMax: string): string {
  const root = mkdtempSync(join(tmpdir(), "kernel-pools-"));
  mkdirSync(join(root, "fs"));
  mkdirSync(join(root, "kernel/pty"), { recursive: true });
  writeFileSync(join(root, "fs/file-max"), fileMax);
  writeFileSync(join(root, "kernel/pty/max"), ptyMax);
  return root;
}

describe("liftKernelPools", () => {
  it("raises kernel-sized defaults to the kernel's ceilings", async () => {
    const root = procSys("2466239\n", "4096\n");
    await liftKernelPools(root);
    expect(readFileSync(join(root, "fs/file-max"), "utf8")).toBe("9223372036854775807\n");
    expect(readFileSync(join(root, "kernel/pty/max"), "utf8")).toBe("1048576\n");
  });

  it("does not write a pool that is already at its ceiling", async () => {
    const root = procSys("9223372036854775807", "1048576");
    await liftKernelPools(root);
    expect(readFileSync(join(root, "fs/file-max"), "utf8")).toBe("9223372036854775807");
    expect(readFileSync(join(root, "kernel/pty/max"), "utf8")).toBe("1048576");
  });
});

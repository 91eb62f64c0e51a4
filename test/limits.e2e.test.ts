// Resource limits, enforced by the kernel and observed from both sides: memory (OOM inside the
// sandbox only), pids (fork bomb), cpu quota, and the disk cap on what a sandbox can write.
import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { useSandboxes } from "./fixtures.js";

const sandbox = useSandboxes();

const V2 = existsSync("/sys/fs/cgroup/cgroup.controllers");
function cgroupRead(id: string, v1: [string, string], v2: string): string {
  const path = V2 ? `/sys/fs/cgroup/sbx/${id}/${v2}` : `/sys/fs/cgroup/${v1[0]}/sbx/${id}/${v1[1]}`;
  return readFileSync(path, "utf8").trim();
}

describe("limits", () => {
  it("OOM-kills a memory hog inside the sandbox and leaves the sandbox usable", async () => {
    const sb = await sandbox({ memoryMb: 64 });
    expect(Number(cgroupRead(sb.id, ["memory", "memory.limit_in_bytes"], "memory.max"))).toBe(64 * 1024 * 1024);
    const hog = await sb.run("sh", { args: ["-c", "tail /dev/zero"] });
    expect(hog.exitCode).toBe(137);
    const after = await sb.run("echo", { args: ["still here"] });
    expect(after.stdout).toBe("still here\n");
  });

  it("stops a fork bomb at the pids limit while the host keeps forking", async () => {
    const sb = await sandbox({ pidsLimit: 64 });
    expect(cgroupRead(sb.id, ["pids", "pids.max"], "pids.max")).toBe("64");
    const bomb = await sb.run("sh", {
      args: ["-c", "i=0; while [ $i -lt 200 ]; do sleep 20 & i=$((i+1)); done 2>/dev/null; echo started $i"],
      timeout: 20,
    });
    // The shell cannot fork past the limit and gives up before reaching 200.
    expect(bomb.stdout).not.toContain("started 200");
    expect(Number(cgroupRead(sb.id, ["pids", "pids.current"], "pids.current"))).toBeLessThanOrEqual(64);
    const events = cgroupRead(sb.id, ["pids", "pids.events"], "pids.events");
    expect(Number(/max (\d+)/.exec(events)?.[1] ?? 0)).toBeGreaterThan(0);
    // The host is unaffected: a process fork here still works.
    const { execFileSync } = await import("node:child_process");
    expect(execFileSync("sh", ["-c", "echo host-ok"]).toString()).toBe("host-ok\n");
    await sb.run("sh", { args: ["-c", "kill -9 -1 2>/dev/null; true"] });
    expect((await sb.run("echo", { args: ["recovered"] })).stdout).toBe("recovered\n");
  });

  it("holds a cpu quota: busy loops get throttled", async () => {
    const sb = await sandbox({ cpus: 0.5 });
    if (V2) expect(cgroupRead(sb.id, ["cpu", "cpu.max"], "cpu.max")).toBe("50000 100000");
    else expect(cgroupRead(sb.id, ["cpu", "cpu.cfs_quota_us"], "")).toBe("50000");
    await sb.run("sh", {
      args: ["-c", "timeout 1 sh -c 'while :; do :; done' & timeout 1 sh -c 'while :; do :; done'; wait"],
    });
    const stat = cgroupRead(sb.id, ["cpu", "cpu.stat"], "cpu.stat");
    expect(Number(/nr_throttled (\d+)/.exec(stat)?.[1])).toBeGreaterThan(0);
  });

  it("caps what a sandbox can write to its disk", async () => {
    const sb = await sandbox({ diskMb: 32, memoryMb: 512 });
    const r = await sb.run("sh", { args: ["-c", "dd if=/dev/zero of=/big bs=1M count=64 2>&1; echo rc=$?"] });
    expect(r.stdout).toMatch(/No space left on device/);
    expect(r.stdout).toMatch(/rc=1/);
    const df = await sb.run("sh", { args: ["-c", "rm /big && echo freed > /small && cat /small"] });
    expect(df.stdout).toBe("freed\n");
  });
});

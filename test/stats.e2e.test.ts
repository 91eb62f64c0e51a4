// Resource use through the real daemon: cpu time, memory, pids, disk and network bytes read from a
// real crun sandbox's cgroup, writable layer and veth, each moved by something done in the
// sandbox; the API, the SDK, `sbx stats` and `sbx top`.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { Sandbox, SbxError, type SandboxUsage } from "@sbx-sh/sdk";
import { sharedClient } from "./fixtures.js";
import { REPO, waitFor } from "./harness.js";

const client = sharedClient();
const host = inject("sbxHost");
let sb: Sandbox;

beforeAll(async () => {
  sb = await Sandbox.create({ allowInternetAccess: true, name: `stats-${Date.now()}` }, client);
});
afterAll(async () => {
  await sb?.terminate().catch(() => undefined);
});

function sbx(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(REPO, "packages", "cli", "bin", "sbx.js"), ...args], {
    env: { ...process.env, SBX_HOST: host },
    encoding: "utf8",
    timeout: 60_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

describe("sandbox stats", () => {
  it("counts what the sandbox does: cpu, memory, pids, disk and network", async () => {
    const before = await sb.stats();
    expect(before.sandboxId).toBe(sb.id);
    expect(before.pids).toBeGreaterThanOrEqual(1);
    expect(before.memoryLimitBytes).toBe((await sb.info()).memoryMb * 1024 * 1024);
    expect(before.diskLimitBytes).toBeGreaterThan(0);

    const busy = await sb.run("sh", { args: ["-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done"] });
    expect(busy.exitCode).toBe(0);
    // 40 MiB on the writable layer (a tmpfs): disk, and memory charged to the sandbox's cgroup.
    const dd = await sb.run("/.sbx/busybox", { args: ["dd", "if=/dev/zero", "of=/big", "bs=1048576", "count=40"] });
    expect(dd.exitCode).toBe(0);
    // A connection attempt leaves through the sandbox's veth whether or not anything answers.
    await sb.run("sh", { args: ["-c", "/.sbx/busybox nc -w 1 192.0.2.1 80 </dev/null; true"] });
    const sleeper = await sb.startProcess("sleep", { args: ["300"] });

    const after = await sb.stats();
    expect(after.cpuUsec).toBeGreaterThan(before.cpuUsec);
    // Since the previous reading (`before`), which the busy loop came after.
    expect(after.cpuPercent).toBeGreaterThan(0);
    expect(after.diskBytes - before.diskBytes).toBeGreaterThanOrEqual(40 * 1024 * 1024);
    expect(after.memoryBytes - before.memoryBytes).toBeGreaterThanOrEqual(30 * 1024 * 1024);
    expect(after.netTxBytes).toBeGreaterThan(before.netTxBytes);
    // The process is launched in the background: it joins the cgroup a moment after the call returns.
    await waitFor(async () => (await sb.stats()).pids > before.pids, 10_000, "the sleeper counted in pids");
    await sleeper.kill();
  });

  it("lists the project's running sandboxes, and refuses one that is not running", async () => {
    const all = await client.stats();
    expect(all.map((u) => u.sandboxId)).toContain(sb.id);
    const named = await client.stats([sb.name!]);
    expect(named.map((u) => u.sandboxId)).toEqual([sb.id]);
    const gone = await Sandbox.create({ allowInternetAccess: false }, client);
    await gone.terminate();
    const err = await gone.stats().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SbxError);
    expect((err as SbxError).code).toBe("sandbox_not_running");
  });

  it("prints them from `sbx stats` and `sbx top`", () => {
    const json = sbx(["stats", sb.id, "--json"]);
    expect(json.code).toBe(0);
    const list = JSON.parse(json.stdout) as SandboxUsage[];
    expect(list.map((u) => u.sandboxId)).toEqual([sb.id]);
    expect(list[0]!.diskBytes).toBeGreaterThanOrEqual(40 * 1024 * 1024);
    const table = sbx(["stats", "--no-stream"]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^SANDBOX\s+NAME\s+CPU %/);
    expect(table.stdout).toContain(sb.id);
    const top = sbx(["top", "--json"]);
    expect(top.code).toBe(0);
    const rows = JSON.parse(top.stdout) as Array<{ sandbox: { id: string }; usage: SandboxUsage | null }>;
    expect(rows.find((r) => r.sandbox.id === sb.id)?.usage?.memoryBytes).toBeGreaterThan(0);
  });
});

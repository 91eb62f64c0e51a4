// Host processes per sandbox process (F14 of the second security round): with sbx-agent as PID 1,
// a sandbox's processes and terminals are children of the agent, inside the sandbox's cgroup.
// Before it, each process added a host `sh` supervisor and a `crun exec` outside that cgroup.
import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { useSandbox } from "../fixtures.js";
import { waitFor } from "../harness.js";

const sandbox = useSandbox();

interface HostProc {
  pid: number;
  cmdline: string;
  cgroup: string;
}

function hostProcesses(): HostProc[] {
  const out: HostProc[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmdline = readFileSync(`/proc/${d}/cmdline`, "utf8").replace(/\0/g, " ");
      out.push({ pid: Number(d), cmdline, cgroup: readFileSync(`/proc/${d}/cgroup`, "utf8") });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

describe("a sandbox's processes on the host", () => {
  it("run inside the sandbox's cgroup, with no helper process outside it", async () => {
    const sb = sandbox();
    const marker = `sbx-f14-${process.pid}`;
    // The marker after the sleep keeps each `sh` (and its command line) alive.
    const script = `sleep 300; : ${marker}`;
    await sb.startProcess("sh", { args: ["-c", script] });
    await sb.startProcess("sh", { args: ["-c", script] });
    const t = await sb.createTerminal({ cols: 80, rows: 24 });
    t.write(`sh -c '${script}'\r`);
    const mine = await waitFor(
      () => {
        const ps = hostProcesses().filter((p) => p.cmdline.startsWith(`sh -c ${script}`));
        return ps.length >= 3 ? ps : undefined;
      },
      30_000,
      "the sandbox's processes on the host",
    );
    // The sandbox's cgroup: the one its processes are in (all the same).
    const cgroups = new Set(mine.map((p) => p.cgroup));
    expect(cgroups.size).toBe(1);
    const cgroup = [...cgroups][0]!;
    // Nothing on the host that names the sandbox or the marker lives outside that cgroup.
    const outside = hostProcesses().filter(
      (p) => (p.cmdline.includes(marker) || p.cmdline.includes(sb.id)) && p.cgroup !== cgroup,
    );
    expect(outside.map((p) => `${p.pid} ${p.cmdline}`)).toEqual([]);
    await t.kill().catch(() => undefined);
  });
});

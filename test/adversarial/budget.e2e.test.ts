// Kernel budgets between sandboxes (F3 of the second security round): the kernel counts inotify
// instances and POSIX message-queue bytes per user at every user-namespace level, and one level
// above a sandbox it charges the owner of the sandbox's namespace, which was root for all of them.
// ptys come from one machine-wide count (kernel.pty.max) that each sandbox's devpts instance now caps
// at PTYS_PER_SANDBOX; open files from fs.file-max. sbxd lifts both counts to the kernel's ceilings so
// that a sandbox's own cap, pids x nofile and memory are what bound it. A sandbox that takes all of its own must leave another sandbox,
// and host root, all of theirs.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { Sandbox } from "@sbx-sh/sdk";
import { useSandboxes } from "../fixtures.js";
import { waitFor } from "../harness.js";
import { sh, staticBinary } from "./kit.js";
import { PTYS_PER_SANDBOX } from "../../packages/daemon/src/runtime/oci-config.js";
import { KERNEL_POOLS } from "../../packages/daemon/src/runtime/kernel-pools.js";

const sandbox = useSandboxes();

const BUDGET = fileURLToPath(new URL("budget.c", import.meta.url));

async function install(sb: Sandbox): Promise<void> {
  await sb.writeFile("/budget", readFileSync(staticBinary(BUDGET)));
  expect((await sb.run("chmod", { args: ["755", "/budget"] })).exitCode).toBe(0);
}

/** Starts `/budget <mode>` in the background and returns its first line once it has printed one. */
async function hog(sb: Sandbox, mode: string, done: string): Promise<string> {
  await sb.startProcess("sh", { args: ["-c", `/budget ${mode} > /tmp/${mode}.out`] });
  return waitFor(
    async () => {
      // readFile, not `cat`: the fd hog leaves the sandbox no pid to run one.
      const out = await sb.readFile(`/tmp/${mode}.out`).then(
        (b) => b.toString(),
        () => "",
      );
      return out.includes(done) && out.endsWith("\n") ? out : undefined;
    },
    30_000,
    `the ${mode} hog's counts`,
  );
}

const pool = (path: string): bigint => BigInt(readFileSync(`/proc/sys/${path}`, "utf8").trim());
const ceiling = (path: string): bigint | undefined => KERNEL_POOLS.find((p) => p.path === path)?.ceiling;

/** Kernel memory charged to a sandbox's memory cgroup, in bytes. */
function kernelMemory(id: string): number {
  if (existsSync("/sys/fs/cgroup/cgroup.controllers")) {
    return Number(/^slab (\d+)$/m.exec(readFileSync(`/sys/fs/cgroup/sbx/${id}/memory.stat`, "utf8"))?.[1]);
  }
  return Number(readFileSync(`/sys/fs/cgroup/memory/sbx/${id}/memory.kmem.usage_in_bytes`, "utf8").trim());
}

const ALL_OK = "inotify OK\nmqueue OK\npty OK\nfile OK\n";

describe("per-sandbox kernel budgets", () => {
  it("a sandbox holding all its inotify instances and mqueue budget leaves another sandbox its own", async () => {
    const [a, b] = await Promise.all([sandbox(), sandbox()]);
    await Promise.all([install(a), install(b)]);
    await a.startProcess("sh", { args: ["-c", "/budget hog > /tmp/hog.out"] });
    const hog = await waitFor(
      async () => {
        const out = (await sh(a, "cat /tmp/hog.out 2>/dev/null")).stdout;
        return out.includes("mqueue") ? out : undefined;
      },
      30_000,
      "the hog's counts",
    );
    // It ran into the kernel's limits (not into its own loop bound).
    expect(hog).toMatch(/^inotify \d+ (EMFILE|ENFILE|ENOSPC)\nmqueue \d+ (EMFILE|ENOSPC|ENOMEM)\n$/);
    // The budget is really gone inside A ...
    expect((await sh(a, "/budget one")).stdout).toMatch(/^inotify (EMFILE|ENFILE|ENOSPC)\n/);
    // ... and untouched in B.
    expect((await sh(b, "/budget one")).stdout).toBe(ALL_OK);
    // ... and in host root's (this test runs as root, like the daemon).
    expect(execFileSync(staticBinary(BUDGET), ["one"], { encoding: "utf8" })).toBe(ALL_OK);
  });

  it("a sandbox holding all the ptys it can open leaves another sandbox its terminals and the host its ptys", async () => {
    const [a, b] = await Promise.all([sandbox(), sandbox()]);
    await Promise.all([install(a), install(b)]);
    // sbxd lifted the machine-wide count, so that a dozen sandboxes at their cap cannot drain it either.
    expect(pool("kernel/pty/max")).toBe(ceiling("kernel/pty/max"));
    const out = await hog(a, "pty", "pty ");
    // Refused by its own devpts instance's cap, not by the machine-wide count (or the loop bound).
    const m = /^pty (\d+) ENOSPC\n$/.exec(out);
    expect(m).not.toBeNull();
    expect(Number(m?.[1])).toBeGreaterThan(PTYS_PER_SANDBOX / 2);
    expect(Number(m?.[1])).toBeLessThanOrEqual(PTYS_PER_SANDBOX);
    expect((await sh(a, "/budget one")).stdout).toMatch(/^pty ENOSPC$/m);
    // B's terminals (the agent opens them in B's devpts) still work ...
    const t = await b.createTerminal({ command: "sh", args: ["-c", "read line; echo got-$line"], cols: 80, rows: 24 });
    let text = "";
    t.onData((d) => (text += d.toString()));
    t.write("pty\r");
    expect(await t.wait()).toBe(0);
    expect(text).toContain("got-pty");
    expect((await sh(b, "/budget one")).stdout).toBe(ALL_OK);
    // ... and so does host root's /dev/ptmx.
    expect(execFileSync(staticBinary(BUDGET), ["one"], { encoding: "utf8" })).toBe(ALL_OK);
  });

  it("a sandbox opening every file its pids and nofile allow leaves other sandboxes and the host able to open files", async () => {
    // sbxd lifted the machine-wide count, so that only a sandbox's own limits bound it.
    expect(pool("fs/file-max")).toBe(ceiling("fs/file-max"));
    const pidsLimit = 16;
    const [a, b] = await Promise.all([sandbox({ pidsLimit }), sandbox()]);
    await Promise.all([install(a), install(b)]);
    const nofile = Number((await sh(a, "ulimit -n")).stdout.trim());
    expect(nofile).toBeGreaterThan(1024);
    const out = await hog(a, "fds", "fds ");
    const m = /^fds (\d+) (\d+) (\d+) EMFILE EAGAIN\n$/.exec(out);
    expect(m).not.toBeNull();
    const [children, total, largest] = [Number(m?.[1]), Number(m?.[2]), Number(m?.[3])];
    // Forking stopped at the pids limit (the agent, sh and the parent hold three of its pids) ...
    expect(children).toBeGreaterThan(1);
    expect(children).toBeLessThanOrEqual(pidsLimit - 3);
    // ... and each child at its RLIMIT_NOFILE, so A holds at most pids x nofile files.
    expect(largest).toBeLessThanOrEqual(nofile);
    expect(largest).toBeGreaterThan(nofile - 16);
    expect(total).toBeLessThanOrEqual(children * nofile);
    expect(total).toBeLessThan(pidsLimit * nofile);
    // The files are kernel memory charged to A's own memory cgroup (a struct file is 184-256 bytes),
    // so A's memory cap bounds them too, whatever its pids and nofile. Two children have ended.
    const held = total - 2 * largest;
    expect(kernelMemory(a.id)).toBeGreaterThan(held * 128);
    // Meanwhile B and host root open files (and everything else) as before.
    expect((await sh(b, "/budget one")).stdout).toBe(ALL_OK);
    expect(execFileSync(staticBinary(BUDGET), ["one"], { encoding: "utf8" })).toBe(ALL_OK);
  });
});

// Kernel budgets between sandboxes (F3 of the second security round): the kernel counts inotify
// instances and POSIX message-queue bytes per user at every user-namespace level, and one level
// above a sandbox it charges the owner of the sandbox's namespace, which was root for all of them.
// A sandbox that takes all of its own must leave another sandbox, and host root, all of theirs.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { Sandbox } from "@sbx-sh/sdk";
import { useSandboxes } from "../fixtures.js";
import { waitFor } from "../harness.js";
import { sh, staticBinary } from "./kit.js";

const sandbox = useSandboxes();

const BUDGET = fileURLToPath(new URL("budget.c", import.meta.url));

async function install(sb: Sandbox): Promise<void> {
  await sb.writeFile("/budget", readFileSync(staticBinary(BUDGET)));
  expect((await sb.run("chmod", { args: ["755", "/budget"] })).exitCode).toBe(0);
}

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
    expect((await sh(b, "/budget one")).stdout).toBe("inotify OK\nmqueue OK\n");
    // ... and in host root's (this test runs as root, like the daemon).
    expect(execFileSync(staticBinary(BUDGET), ["one"], { encoding: "utf8" })).toBe("inotify OK\nmqueue OK\n");
  });
});

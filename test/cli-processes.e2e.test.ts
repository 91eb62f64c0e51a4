// The CLI's process, timeout, label and retention commands against the real daemon: exec -d, ps,
// logs (-f), kill; update --timeout; --label and ls --filter; rm of an ended sandbox; prune.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { afterAll, describe, expect, inject, it } from "vitest";
import { REPO } from "./harness.js";

const host = inject("sbxHost");
const ids: string[] = [];

function sbx(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(REPO, "packages", "cli", "bin", "sbx.js"), ...args], {
    env: { ...process.env, SBX_HOST: host },
    encoding: "utf8",
    timeout: 120_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

afterAll(() => {
  if (ids.length) sbx(["rm", ...ids]);
});

describe("sbx processes, timeouts, labels and retention", () => {
  it("runs a process in the background, lists it, follows its output and signals it", () => {
    const id = sbx(["new", "--no-internet", "-l", "suite=cli-proc", "-l", "role=worker"]).stdout.trim();
    ids.push(id);
    const pid = sbx(["exec", "-d", id, "--", "sh", "-c", "echo one; echo err >&2; sleep 1; echo two"]).stdout.trim();
    expect(pid).toMatch(/^pr-/);
    const follow = sbx(["logs", id, pid, "-f"]);
    expect(follow).toMatchObject({ code: 0, stdout: "one\ntwo\n", stderr: "err\n" });
    const sleeper = sbx(["exec", "-d", id, "--", "sleep", "300"]).stdout.trim();
    const ps = JSON.parse(sbx(["ps", id, "--json"]).stdout) as Array<{ id: string; status: string; exitCode: number }>;
    expect(ps.find((p) => p.id === pid)).toMatchObject({ status: "exited", exitCode: 0 });
    expect(ps.find((p) => p.id === sleeper)?.status).toBe("running");
    expect(sbx(["kill", id, sleeper, "-s", "KILL"])).toMatchObject({ code: 0, stdout: `${sleeper}\n` });
    expect(sbx(["ps", id])).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(new RegExp(`${sleeper}\\s+killed \\(SIGKILL\\)`)),
    });
    // The latest process by default; a bad signal names the flag and sends nothing.
    expect(sbx(["logs", id]).stdout).toBe("");
    // -q on commands that print one object: its id (an image's reference).
    expect(sbx(["info", id, "-q"]).stdout).toBe(`${id}\n`);
    expect(sbx(["image", "inspect", "debian-minimal", "-q"]).stdout).toBe("debian-minimal\n");
    const bad = sbx(["kill", id, pid, "-s", "NOPE"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--signal: unknown signal "NOPE"/);
  });

  it("extends a timeout, filters by label and status, removes an ended sandbox quietly and prunes", () => {
    const id = ids[0]!;
    const other = sbx(["new", "--no-internet", "-q", "--timeout", "60", "-l", "suite=cli-proc"]).stdout.trim();
    ids.push(other);
    const updated = JSON.parse(sbx(["update", other, "--timeout", "3600", "--json"]).stdout) as { expiresAt: string };
    expect(Date.parse(updated.expiresAt) - Date.now()).toBeGreaterThan(3000 * 1000);
    expect(sbx(["ls", "-q", "--filter", "label=role=worker"]).stdout).toBe(`${id}\n`);
    expect(sbx(["ls", "-q", "-f", "label=suite=cli-proc,status=running"]).stdout.trim().split("\n").sort()).toEqual(
      [id, other].sort(),
    );
    const newline = sbx(["new", "--label", "bad=a\nb"]);
    expect(newline.code).toBe(1);
    expect(newline.stderr).toMatch(/--label[\s\S]*contains a newline/);
    expect(sbx(["rm", other]).code).toBe(0);
    // Again, once it has ended: the same id, exit 0, nothing on stderr.
    expect(sbx(["rm", other])).toMatchObject({ code: 0, stdout: `${other}\n`, stderr: "" });
    expect(sbx(["ls", "-q", "-f", "status=terminated,label=suite=cli-proc"]).stdout).toBe(`${other}\n`);
    expect(sbx(["prune", "-q"]).stdout.split("\n")).toContain(other);
    expect(sbx(["ls", "-a", "-q"]).stdout.split("\n")).not.toContain(other);
  });
});

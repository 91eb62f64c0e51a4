// Unit test of Crun.untilInitExecs on a real process that starts as an executable named "crun"
// and then execs another program, as a container's init does between `crun start` and execve.
import { spawn } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Crun } from "./crun.js";

const dir = mkdtempSync(join(tmpdir(), "sbx-crun-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("Crun.untilInitExecs", () => {
  it("returns only once the process is no longer crun", async () => {
    const fakeCrun = join(dir, "crun");
    copyFileSync("/bin/sh", fakeCrun);
    const child = spawn(fakeCrun, ["-c", "sleep 0.3; exec sleep 30"], { stdio: "ignore" });
    try {
      expect(readFileSync(`/proc/${child.pid}/comm`, "utf8").trim()).toBe("crun");
      await new Crun(dir).untilInitExecs(child.pid!);
      expect(readFileSync(`/proc/${child.pid}/comm`, "utf8").trim()).toBe("sleep");
    } finally {
      child.kill("SIGKILL");
    }
  });

  it("returns for a process that is gone", async () => {
    await expect(new Crun(dir).untilInitExecs(2 ** 22 + 1)).resolves.toBeUndefined();
  });
});

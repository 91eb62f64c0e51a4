// A bug's stray error inside the real sbxd: a promise that fails with nobody waiting for it is
// logged with its stack and the daemon keeps serving (one bug must not end every tenant's calls);
// a throw nobody catches ends the daemon, with the cause in its log first. The errors are injected
// by a module preloaded into the daemon (NODE_OPTIONS --import), fired by signals the daemon
// itself leaves alone.
import { describe, expect, it } from "vitest";
import { SandboxClient } from "@sbx-sh/sdk";
import { TestDaemon, waitFor } from "../harness.js";

const PRELOAD = [
  `process.on("SIGUSR2", () => void Promise.reject(new Error("stray rejection from the test")));`,
  `process.on("SIGPWR", () => setImmediate(() => { throw new Error("stray throw from the test"); }));`,
].join("");

describe("stray errors in sbxd", () => {
  it("logs an unhandled rejection and keeps serving; an uncaught throw ends it, with the cause logged", async () => {
    const daemon = new TestDaemon({ name: "faults-stray", netIndex: 11, extraArgs: ["--warm-pool", "0"] });
    daemon.env.NODE_OPTIONS = `--import=data:text/javascript,${encodeURIComponent(PRELOAD)}`;
    await daemon.reset();
    await daemon.start();
    try {
      const client = new SandboxClient({ host: daemon.host });
      const pid = daemon.child!.pid!;

      process.kill(pid, "SIGUSR2");
      await waitFor(() => daemon.log.includes("unhandled rejection"), 10_000, "the rejection in the log");
      expect(daemon.log).toContain("stray rejection from the test");
      expect(daemon.child!.exitCode).toBeNull();
      expect((await client.info()).version).toBeTruthy();

      daemon.expectingExit = true;
      const exited = new Promise<number | null>((r) => daemon.child!.once("exit", (code) => r(code)));
      process.kill(pid, "SIGPWR");
      expect(await exited).toBe(1);
      expect(daemon.log).toContain("sbxd crashed");
      expect(daemon.log).toContain("stray throw from the test");
    } finally {
      await daemon.stop("SIGKILL");
      await daemon.reset();
    }
  });
});

// The runtime contract (packages/daemon/src/runtime/runtime.conformance.ts) held against CrunRuntime
// on this host: root, real crun, the default base image. The runtime is configured as sbxd
// configures it (daemon-host.ts) from a test daemon's environment, on that daemon's private dirs,
// with no daemon.
import { spawnSync } from "node:child_process";
import { chmod, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { newId } from "@sbx-sh/protocol";
import { BaseImages } from "../packages/daemon/src/build/base-images.js";
import { defaultConfig } from "../packages/daemon/src/config.js";
import { CrunRuntime } from "../packages/daemon/src/runtime/crun-runtime.js";
import { runtimeOptions, hostNetwork } from "../packages/daemon/src/daemon-host.js";
import { cgroupVersion } from "../packages/daemon/src/runtime/host-facts.js";
import { runtimeConformance } from "../packages/daemon/src/runtime/runtime.conformance.js";
import { TestDaemon } from "./harness.js";

runtimeConformance("CrunRuntime", async () => {
  // Its dirs, subnet and interface names are a test daemon's, so a run that died is cleaned up like one;
  // data/ (the unpacked base image) is kept for the next run.
  const dirs = new TestDaemon({ name: "runtime-conformance", netIndex: 5 });
  await dirs.reset({ keepData: true });
  const cfg = defaultConfig(dirs.env);
  const bases = new BaseImages({
    dataDir: cfg.dataDir,
    cacheDir: join(cfg.cacheDir, "bases"),
    uidBase: cfg.uidBase,
    log: () => undefined,
  });
  const base = await bases.ensure(cfg.defaultImage);
  // As sbxd makes them: 0700, no ACL; crun reaches each sandbox's files from inside its dir.
  for (const dir of [cfg.dataDir, join(cfg.dataDir, "sandboxes")]) {
    await mkdir(dir, { recursive: true });
    await chmod(dir, 0o700);
  }
  const runtime = new CrunRuntime(
    runtimeOptions(cfg, {
      sandboxesDir: join(cfg.dataDir, "sandboxes"),
      network: hostNetwork(cfg),
      cgroupVersion: cgroupVersion(),
    }),
  );
  return {
    runtime,
    lowers: [base.rootfs],
    newId: () => newId("sb"),
    close: async () => {
      await runtime.cleanupLeaks(new Set(), new Set());
      // Its tools' tmpfs, which a daemon's stop would unmount (harness.ts).
      spawnSync("umount", ["-l", join(dirs.root, "run-tools")], { stdio: "ignore" });
    },
  };
});

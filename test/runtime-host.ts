// A CrunRuntime with no daemon, for the tests that hold the runtime itself to account: made as sbxd
// makes it (daemon-host.ts) from a test daemon's environment, on that daemon's private dirs, subnet
// and interface names (so a run that died is cleaned up like one), over the default base image.
import { spawnSync } from "node:child_process";
import { chmod, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { BaseImages } from "../packages/daemon/src/build/base-images.js";
import { defaultConfig } from "../packages/daemon/src/config.js";
import { hostNetwork, runtimeOptions } from "../packages/daemon/src/daemon-host.js";
import { CrunRuntime } from "../packages/daemon/src/runtime/crun-runtime.js";
import { cgroupVersion } from "../packages/daemon/src/runtime/host-facts.js";
import type { NetworkManager } from "../packages/daemon/src/runtime/network.js";
import { TestDaemon } from "./harness.js";

export interface HostRuntime {
  runtime: CrunRuntime;
  network: NetworkManager;
  /** Where each sandbox's bundle lives: `<sandboxesDir>/<id>`. */
  sandboxesDir: string;
  /** The default base image's rootfs. */
  lowers: string[];
  /** Removes what sandboxes left, and the tools' tmpfs a daemon's stop would unmount (harness.ts). */
  close(): Promise<void>;
}

/** data/ (the unpacked base image) is kept from the run before. */
export async function hostRuntimeForTest(name: string, netIndex: number): Promise<HostRuntime> {
  const dirs = new TestDaemon({ name, netIndex });
  await dirs.reset({ keepData: true });
  const cfg = defaultConfig(dirs.env);
  const bases = new BaseImages({
    dataDir: cfg.dataDir,
    cacheDir: join(cfg.cacheDir, "bases"),
    uidBase: cfg.uidBase,
    log: () => undefined,
  });
  const base = await bases.ensure(cfg.defaultImage);
  const sandboxesDir = join(cfg.dataDir, "sandboxes");
  // As sbxd makes them: 0700, no ACL; crun reaches each sandbox's files from inside its dir.
  for (const dir of [cfg.dataDir, sandboxesDir]) {
    await mkdir(dir, { recursive: true });
    await chmod(dir, 0o700);
  }
  const network = hostNetwork(cfg);
  const runtime = new CrunRuntime(runtimeOptions(cfg, { sandboxesDir, network, cgroupVersion: cgroupVersion() }));
  return {
    runtime,
    network,
    sandboxesDir,
    lowers: [base.rootfs],
    close: async () => {
      await runtime.cleanupLeaks(new Set(), new Set());
      spawnSync("umount", ["-l", join(dirs.root, "run-tools")], { stdio: "ignore" });
    },
  };
}

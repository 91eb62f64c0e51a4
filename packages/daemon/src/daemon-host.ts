// What a daemon that runs sandboxes makes of this host before anything starts: the extra CAs
// sandboxes trust (--ca-cert, checked first so a bad file stops the daemon with its name) and the
// runtime `--runtime` names, on this host's network, kernel pools and facts. Apart from the
// daemon's wiring because a control replica (and a test with its own runtime) skips all of it; the
// runtime's options are also what the runtime's own e2e tests make theirs with.
import { join, resolve } from "node:path";
import { createRuntime } from "./runtime/create-runtime.js";
import { HostTrust, loadExtraCas } from "./runtime/host-ca.js";
import type { SandboxRuntime } from "./runtime/runtime.js";
import type { CrunRuntimeOptions } from "./runtime/crun-options.js";
import { hostNofileHardLimit } from "./runtime/host-facts.js";
import { NetworkManager } from "./runtime/network.js";
import { liftKernelPools } from "./runtime/kernel-pools.js";
import type { DaemonConfig } from "./config.js";

/** The runtime `--runtime` names (only crun today), on this host's network and facts. */
export async function hostRuntime(
  cfg: DaemonConfig,
  sandboxesDir: string,
  cgv: 1 | 2,
  hostTrust: HostTrust | undefined,
): Promise<SandboxRuntime> {
  const network = hostNetwork(cfg);
  await network.ensureHost();
  await liftKernelPools();
  return createRuntime(cfg.runtime, runtimeOptions(cfg, { sandboxesDir, network, cgroupVersion: cgv, hostTrust }));
}

/** The sandboxes' network as the config names it (not set up on the host yet: NetworkManager.ensureHost). */
export function hostNetwork(cfg: DaemonConfig): NetworkManager {
  return new NetworkManager({ subnet: cfg.subnet, interfacePrefix: cfg.interfacePrefix, tableName: cfg.nftTable });
}

/**
 * The runtime's options as sbxd makes them from its config and this host's facts; also for the
 * tests that hold a runtime to its contract with no daemon, so they test the runtime sbxd runs.
 */
export function runtimeOptions(
  cfg: DaemonConfig,
  host: { sandboxesDir: string; network: NetworkManager; cgroupVersion: 1 | 2; hostTrust?: HostTrust | undefined },
): CrunRuntimeOptions {
  return {
    sandboxesDir: host.sandboxesDir,
    crunRoot: join(cfg.runDir, "crun"),
    uidBase: cfg.uidBase,
    uidCount: cfg.uidCount,
    initPath: cfg.initPath,
    busyboxPath: cfg.busyboxPath,
    agentPath: cfg.agentPath ?? undefined,
    hostTrust: host.hostTrust,
    idmapHelper: cfg.idmapHelper,
    volumesDir: join(cfg.dataDir, "volumes"),
    // Beside the run dir, not in it: every sandbox's root must reach the staged binaries (0755).
    toolsDir: `${resolve(cfg.runDir)}-tools`,
    network: host.network,
    nofile: Math.min(hostNofileHardLimit(), 65536),
    cgroupVersion: host.cgroupVersion,
    cgroupParent: cfg.cgroupParent,
    logsSizeMb: cfg.sandboxLogsMb,
  };
}

/** The --ca-cert files, checked before anything starts: a bad file stops the daemon with its name. */
export async function hostTrust(files: string[]): Promise<HostTrust | undefined> {
  const pem = await loadExtraCas(files);
  return pem === null ? undefined : new HostTrust(pem);
}

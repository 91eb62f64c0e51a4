// The runtime of a daemon that runs no sandboxes (a cluster control replica, --role control): it
// has no network manager, crun root, cgroup parent or volume disks, so nothing the daemon does at
// start (leak sweeps, reconcile) or later can touch the host's networking, cgroups, mounts or crun
// state. A control replica may share a host with a node or a single-host daemon using the same
// veth prefix and nft table: their sandboxes are not its own. Every sandbox operation is refused
// with a coded error; the sweeps find nothing, because there is nothing of this daemon's to sweep.
import { SbxError } from "@sbx-sh/protocol";
import type { SandboxRuntime } from "./runtime.js";
import type { RuntimeCapabilities, SandboxStats, TerminalHandle } from "./types.js";

function refused(): SbxError {
  return new SbxError(
    "failed_precondition",
    "This daemon is a cluster control plane (--role control): it runs no sandboxes; its nodes do.",
  );
}

const reject = (): Promise<never> => Promise.reject(refused());

export class HostlessRuntime implements SandboxRuntime {
  readonly name = "none";
  readonly capabilities: RuntimeCapabilities = {
    memorySnapshots: { supported: false, reason: "a control plane runs no sandboxes" },
    liveCapture: false,
    userNamespaces: false,
  };
  /** No slots: the sandbox service can reserve none. */
  readonly netSlotCapacity = 0;

  /** Nothing of this daemon's is on the host; whatever is there belongs to another daemon. */
  cleanupLeaks(): Promise<string[]> {
    return Promise.resolve([]);
  }

  isRunning(): Promise<boolean> {
    return Promise.resolve(false);
  }

  stats(): Promise<SandboxStats> {
    return reject();
  }

  openTerminal(): TerminalHandle {
    throw refused();
  }

  create = reject;
  reconfigure = reject;
  destroy = reject;
  updateEgress = reject;
  exportLayer = reject;
  thaw = reject;
  resolveUser = reject;
  run = reject;
  startProcess = reject;
  attachProcess = reject;
  outputUsage = reject;
  discardOutput = reject;
  forgetProcess = reject;
  readFile = reject;
  writeFile = reject;
  listDirectory = reject;
  deleteFile = reject;
  extractArchive = reject;
  createArchive = reject;
}

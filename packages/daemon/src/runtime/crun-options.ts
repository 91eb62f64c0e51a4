// What CrunRuntime is made with: where sandboxes live, the host tools it stages, the uid range it
// maps sandboxes into, and the network it wires them to (sbxd's config fills it; ./create-runtime.ts).
import type { HostTrust } from "./host-ca.js";
import type { NetworkManager } from "./network.js";

export interface CrunRuntimeOptions {
  /** Where each sandbox's bundle, mounts and process state live: `<sandboxesDir>/<id>`. */
  sandboxesDir: string;
  crunRoot: string;
  uidBase: number;
  uidCount: number;
  initPath: string;
  busyboxPath: string;
  /** Where init, busybox and the agent are staged on a tmpfs for sandboxes (./tool-stage.ts); absent: bound from the host. */
  toolsDir?: string;
  /** sbx-idmap: clones layers as idmapped mounts into each sandbox's own uid range. */
  idmapHelper: string;
  network: NetworkManager;
  nofile: number;
  cgroupVersion: 1 | 2;
  /** cgroup every sandbox's is made under (`<parent>/<id>`); default "sbx" (sbxd --cgroup-parent). */
  cgroupParent?: string;
  logsSizeMb?: number;
  /** sbx-agent on the host: PID 1 and process server of every sandbox without systemd or a custom init. */
  agentPath?: string;
  /** Where volumes' disks live (`<dataDir>/volumes`); absent: no volumes. */
  volumesDir?: string;
  /** Extra CAs (sbxd --ca-cert) appended to every sandbox's and build step's trust store. */
  hostTrust?: HostTrust;
  /** sbx-userns: makes each sandbox's user namespace owned by its base uid; default: beside idmapHelper. */
  usernsHelper?: string;
}

// The cluster bench's fleet: a throwaway PostgreSQL, one control-plane sbxd (--role control) and
// real node daemons (--role node, real crun), all on this machine's loopback. Unlike the e2e fleet
// (test/cluster-harness.ts) there are no network namespaces: each node only gets its own dir,
// subnet, veth prefix, TCP port, cgroup parent and nft table, which is all that keeps nodes on one
// host apart. The daemons are test/harness.ts's TestDaemon, the cgroup helpers test/fleet-host.ts's.
// stop() removes every process, container, mount, veth, cgroup, nft table and dir, also after a
// failure half way through start().
import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { SandboxClient } from "@sbx-sh/sdk";
import { startPgCluster, type PgCluster } from "../packages/daemon/src/testing/pg-cluster.js";
import { cgroupDirs, removeCgroupTree } from "../test/fleet-host.js";
import { freePort, TestDaemon, waitFor } from "../test/harness.js";

const SECRET = "cluster-secret-for-the-cluster-bench-0123456789";

export interface BenchNode {
  name: string;
  daemon: TestDaemon;
  /** The node's own daemon over its root-only socket: the direct baseline. */
  local: SandboxClient;
  /** Its TCP API (the control plane's way in), `http://127.0.0.1:PORT`. */
  url: string;
  cgroupParent: string;
  nftTable: string;
}

export class BenchFleet {
  pg: PgCluster | undefined;
  control: TestDaemon | undefined;
  readonly nodes: BenchNode[] = [];
  /** The control plane over its unix socket. */
  client!: SandboxClient;

  /** `slot` (0-9 or undefined) keeps two checkouts' benches apart: subnets 10.(220+slot).(16·i).0/20. */
  constructor(
    private readonly nodeCount: number,
    private readonly slot: number | undefined,
  ) {}

  private get tag(): string {
    return this.slot === undefined ? "" : String(this.slot);
  }

  private subnet(i: number): string {
    return `10.${220 + (this.slot ?? 0)}.${16 * i}.0/20`;
  }

  async start(): Promise<void> {
    this.pg = await startPgCluster();
    const port = await freePort();
    const control = new TestDaemon({
      name: "bench-cluster-ctl",
      netIndex: 0,
      root: `/tmp/sbb-cluster${this.tag}-ctl`,
      subnet: this.subnet(0),
      ifPrefix: `sbc${this.tag}x`,
      extraArgs: ["--warm-pool", "0", "--role", "control", "--store", this.pg.url, "--listen-tcp", `127.0.0.1:${port}`],
    });
    Object.assign(control.env, { SBX_CLUSTER_SECRET: SECRET, SBX_NODE_LEASE_SECS: "5" });
    this.control = control;
    await control.reset();
    await control.start();
    this.client = new SandboxClient({ host: control.host });
    for (let i = 1; i <= this.nodeCount; i++) {
      const name = `n${i}`;
      const { token } = await this.client.addNode(name);
      const url = `http://127.0.0.1:${await freePort()}`;
      const daemon = new TestDaemon({
        name: `bench-cluster-${name}`,
        netIndex: i,
        root: `/tmp/sbb-cluster${this.tag}-${name}`,
        subnet: this.subnet(i),
        ifPrefix: `sbc${this.tag}${String.fromCharCode(96 + i)}`,
        // The warm pool as shipped (its default size): what a node serves creates from.
        extraArgs: ["--role", "node", "--listen-tcp", url.slice("http://".length)],
      });
      const node: BenchNode = {
        name,
        daemon,
        local: new SandboxClient({ host: daemon.host }),
        url,
        cgroupParent: `sbb-cluster${this.tag}-${name}`,
        nftTable: `sbb${this.tag}_cluster_${name}`,
      };
      Object.assign(daemon.env, {
        SBX_CONTROL: `http://127.0.0.1:${port}`,
        SBX_NODE_TOKEN: token,
        SBX_CGROUP_PARENT: node.cgroupParent,
        SBX_NFT_TABLE: node.nftTable,
      });
      this.nodes.push(node);
      await daemon.reset();
    }
    await Promise.all(this.nodes.map((n) => n.daemon.start()));
    for (const n of this.nodes) await this.waitReady(n.name);
  }

  /** Until the control plane shows the node ready on a live lease (it routes by the lease). */
  async waitReady(name: string): Promise<void> {
    await waitFor(
      async () => {
        const n = (await this.client.listNodes()).find((x) => x.name === name);
        return n?.state === "ready" && (n.leaseSecsLeft ?? 0) > 0;
      },
      120_000,
      `node ${name} ready`,
    );
  }

  /** Only `names` take new sandboxes: the others are cordoned (placement skips them). */
  async only(names: string[]): Promise<void> {
    for (const n of this.nodes) await this.client.setNodeState(n.name, names.includes(n.name) ? "ready" : "cordoned");
    for (const n of names) await this.waitReady(n);
  }

  /** Stops and removes everything; safe after any failure. */
  async stop(): Promise<void> {
    for (const n of this.nodes) {
      for (const s of await n.local.list().catch(() => [])) await n.local.terminate(s.id).catch(() => undefined);
      await n.daemon.stop();
    }
    await this.control?.stop();
    await this.pg?.stop();
    for (const n of this.nodes) {
      await n.daemon.reset(); // containers, mounts, veths and the dir
      rmSync(n.daemon.root, { recursive: true, force: true });
      for (const d of cgroupDirs(n.cgroupParent)) removeCgroupTree(d);
      spawnSync("nft", ["delete", "table", "inet", n.nftTable], { stdio: "ignore" });
    }
    if (this.control) {
      await this.control.reset();
      rmSync(this.control.root, { recursive: true, force: true });
    }
  }
}

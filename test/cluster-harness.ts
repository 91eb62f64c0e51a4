// One shared set-up for the cluster e2e files: a fleet on this machine, every part real.
//
//   PostgreSQL (Debian's, 127.0.0.1)  ←  control replicas (sbxd --role control, host namespace,
//                                        TCP on the fleet bridge's address 10.250.<slot>.1)
//   registry (docker-registry, HTTPS on 10.250.<slot>.1, a test CA)
//   node daemons (sbxd --role node), each in its own network namespace `sbx<slot>-<node>` with its
//   own address 10.250.<slot>.1N (uplink MTU 1450) on the bridge `sbx<slot>fleet`, its own data dir, cgroup parent
//   (`sbx-test<slot>-<node>`) and nft table (`sbx_<node>`); started with `nsenter --net`, so their
//   veths and nft table are the namespace's while their mounts stay in the host's mount table
//   (restarts find them, and the leak checks see them).
// Nothing listens anywhere public: the bridge address is local to this machine, PostgreSQL is on
// loopback (only the control replicas use it). Traffic stays on this machine.
//
// API (one Fleet per test file; afterAll → fleet.stop(), which cleans up even after a failure):
//   const fleet = new Fleet({ nodes: [{ name: "n1", labels: { zone: "a" } }, "n2"], replicas: 2,
//                             registry: true, nodeTls: true, controlProxy: true, leaseSecs: 3 });
//   (also registryAuth: htpasswd credentials on the registry; daemonExtras: flags/env per daemon)
//   await fleet.start();                 // PG, registry, replicas, `sbx node add`, nodes ready
//   fleet.client(project?, replica?)     // SandboxClient on a replica's unix socket
//   fleet.control(i) / fleet.controlUrl(i) / fleet.node("n1") (daemon, ns, address, url, token)
//   fleet.sbx(args, replica?) / fleet.sbxAsync(args, replica?)   // the CLI against a replica
//   await fleet.list(replica?)          // sandboxes and `unavailable` (with reasons); rawUnix(daemon, method, path)
//   await fleet.nodes() / fleet.nodeState("n1") / fleet.waitState("n1", "ready")
//   await fleet.sandboxesOn("n1") / fleet.nodeOf(id) / fleet.onlyOn("n2", fn)
//   await fleet.startNode("n1") / fleet.node("n1").daemon.stop("SIGKILL") / fleet.freeze / thaw
//   await fleet.footprint("n1")          // cgroups, nft table, mounts, veths: compare for leaks
//   fleet.certs (CA, node leaf with every node's IP, a rogue CA's leaf), fleet.useCert(name, leaf)
//   rejection(promise)                   // the SbxError a call fails with
// The host side (bridge, namespaces, cgroup parents, certificates, footprints) is test/fleet-host.ts.
// A new scenario file (drain, images): construct a Fleet with what it needs, `start()` in beforeAll,
// `stop()` in afterAll; options `start: false` on a node adds it without starting it, `env` gives it
// more environment than the fleet-wide `nodeEnv`.
import { execFile, spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { expect } from "vitest";
import { SandboxClient, SbxError } from "@sbx-sh/sdk";
import type { ClusterNode, SandboxInfo } from "@sbx-sh/protocol";
import { startPgCluster, type PgCluster } from "../packages/daemon/src/testing/pg-cluster.js";
import {
  addBridge,
  addNamespace,
  cgroupDirs,
  cleanNetwork,
  footprint,
  makeCerts,
  NET,
  NODE_PORT,
  removeCgroupTree,
  SLOT,
  HOST_ADDRESS,
  type Footprint,
} from "./fleet-host.js";
import { freePort, REPO, TestDaemon, waitFor } from "./harness.js";
import { TestRegistry } from "./registry.js";

export const SECRET = "cluster-secret-for-the-fleet-tests-0123456789";

export interface FleetNodeSpec {
  name: string;
  labels?: Record<string, string>;
  /** Added with `sbx node add` but not started (default true). */
  start?: boolean;
  /** false: not even added (the test runs `sbx node add` and sets `node(name).daemon.env.SBX_NODE_TOKEN`). */
  add?: boolean;
  /** More environment for this node only (after `nodeEnv`), e.g. SBX_CONTENT_CACHE_MB on one node. */
  env?: Record<string, string>;
}

export interface FleetOptions {
  nodes: Array<string | FleetNodeSpec>;
  /** Control replicas (default 1); nodes talk to the last one (a load balancer in production). */
  replicas?: number;
  /** A registry for cluster content, given to every daemon as --registry (default false). */
  registry?: boolean;
  /** The registry asks for basic auth (htpasswd) with these credentials (default: none). */
  registryAuth?: { user: string; password: string };
  /**
   * More flags and environment per daemon (e.g. --registry-ca, --registry-auth-file), asked for
   * as each is made, once the certificates exist (`fleet.certs.dir`); `who` is `control<i>` or
   * the node's name.
   */
  daemonExtras?: (who: string) => { args?: string[]; env?: Record<string, string> };
  /** Nodes serve TLS with the test CA's certificate; the replicas get --node-ca (default false). */
  nodeTls?: boolean;
  /** Replicas relay the port proxy (--proxy-listen on the bridge address; default false). */
  controlProxy?: boolean;
  leaseSecs?: number;
  giveUpSecs?: number;
  /** More environment for every node (e.g. SBX_CONTENT_CACHE_MB). */
  nodeEnv?: Record<string, string>;
}

export interface FleetNode {
  name: string;
  daemon: TestDaemon;
  /** The network namespace, its address there, and its TCP API's URL. */
  ns: string;
  address: string;
  url: string;
  token: string;
  cgroupParent: string;
  nftTable: string;
  /** The node's own daemon, over its root-only socket. */
  local: SandboxClient;
}

/** A raw request over a daemon's unix socket, its path sent exactly as given; the status and JSON body. */
export function rawUnix<T = { error?: { code: string; message: string } }>(
  daemon: TestDaemon,
  method: string,
  path: string,
  project = "default",
): Promise<{ status: number; body: T }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: daemon.socket, method, path, headers: { "x-sbx-project": project } }, (res) => {
      let text = "";
      res.on("data", (c: Buffer) => (text += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text || "{}") as T }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** A replica's list with what the SDK does not show: the sandboxes it cannot reach, with the reason. */
export interface FleetList {
  sandboxes: SandboxInfo[];
  unavailable: Array<{ id: string; node: string; reason: string }>;
}

export async function rejection(p: Promise<unknown>): Promise<SbxError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SbxError);
  return err as SbxError;
}

export class Fleet {
  pg!: PgCluster;
  registry: TestRegistry | undefined;
  certs!: { dir: string; ca: Buffer };
  readonly controls: TestDaemon[] = [];
  private readonly ports: number[] = [];
  controlProxyPort = 0;
  private readonly byName = new Map<string, FleetNode>();
  private readonly frozen = new Set<string>();
  private readonly specs: FleetNodeSpec[];

  constructor(readonly opts: FleetOptions) {
    this.specs = opts.nodes.map((n) => (typeof n === "string" ? { name: n } : n));
  }

  /** The bridge's address: where the replicas, the registry and the control proxy listen. */
  get hostAddress(): string {
    return HOST_ADDRESS;
  }

  control(i = 0): TestDaemon {
    return this.controls[i]!;
  }

  controlUrl(i = 0): string {
    return `http://${this.hostAddress}:${this.ports[i]}`;
  }

  node(name: string): FleetNode {
    const n = this.byName.get(name);
    if (!n) throw new Error(`no fleet node ${name}`);
    return n;
  }

  get nodeNames(): string[] {
    return this.specs.map((s) => s.name);
  }

  client(project?: string, replica = 0): SandboxClient {
    return new SandboxClient({ host: this.control(replica).host, ...(project ? { project } : {}) });
  }

  sbx(args: string[], replica = 0): { code: number; stdout: string; stderr: string } {
    const r = spawnSync(process.execPath, [join(REPO, "packages", "cli", "bin", "sbx.js"), ...args], {
      env: { ...process.env, SBX_HOST: this.control(replica).host },
      encoding: "utf8",
      timeout: 60_000,
    });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  }

  /** The CLI without blocking this process, which reads the daemons' logs. */
  sbxAsync(args: string[], replica = 0): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        [join(REPO, "packages", "cli", "bin", "sbx.js"), ...args],
        { env: { ...process.env, SBX_HOST: this.control(replica).host }, encoding: "utf8", timeout: 60_000 },
        (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? -1) : 0, stdout, stderr }),
      );
    });
  }

  async list(replica = this.controls.length - 1): Promise<FleetList> {
    return (await rawUnix<FleetList>(this.control(replica), "GET", "/v1/sandboxes")).body;
  }

  nodes(replica = this.controls.length - 1): Promise<ClusterNode[]> {
    return this.client(undefined, replica).listNodes();
  }

  async nodeState(name: string, replica?: number): Promise<string | undefined> {
    return (await this.nodes(replica)).find((n) => n.name === name)?.state;
  }

  /**
   * Until the node shows `state`; for "ready", also with a live lease: a node thawed before the
   * sweep marked it lost still shows "ready" on an expired lease until its next heartbeat, and the
   * control plane routes by the lease.
   */
  waitState(name: string, state: string, timeoutMs = 30_000): Promise<boolean> {
    return waitFor(
      async () => {
        const n = (await this.nodes()).find((x) => x.name === name);
        return n?.state === state && (state !== "ready" || (n.leaseSecsLeft ?? 0) > 0);
      },
      timeoutMs,
      `${name} ${state}`,
    );
  }

  /** Ids of the sandboxes a node's own daemon has that have not ended. */
  async sandboxesOn(name: string): Promise<string[]> {
    return (await this.node(name).local.list())
      .filter((s) => s.status !== "terminated")
      .map((s) => s.id)
      .sort();
  }

  /** Whether the node's daemon runs and answers (not stopped, not frozen): its socket can be asked. */
  answering(name: string): boolean {
    const c = this.node(name).daemon.child;
    return !!c && c.exitCode === null && c.signalCode === null && !this.frozen.has(name);
  }

  /** Which node runs the sandbox, asked of the nodes' own daemons (those answering). */
  async nodeOf(id: string): Promise<string> {
    for (const name of this.byName.keys())
      if (this.answering(name) && (await this.sandboxesOn(name)).includes(id)) return name;
    throw new Error(`no node runs ${id}`);
  }

  /** Runs `fn` with every other node cordoned, so placement can choose only `keep`. */
  async onlyOn<T>(keep: string, fn: () => Promise<T>): Promise<T> {
    const others = this.nodeNames.filter((n) => n !== keep);
    for (const n of others) expect((await this.sbxAsync(["node", "cordon", n])).code).toBe(0);
    try {
      return await fn();
    } finally {
      for (const n of others) expect((await this.sbxAsync(["node", "ready", n])).code).toBe(0);
    }
  }

  /** Serve a node's TCP API with `leaf`'s certificate (node: the fleet's CA; rogue: another one). */
  useCert(name: string, leaf: "node" | "rogue"): void {
    Object.assign(this.node(name).daemon.env, {
      SBX_TLS_CERT: join(this.certs.dir, `${leaf}.crt`),
      SBX_TLS_KEY: join(this.certs.dir, `${leaf}.key`),
    });
  }

  /** SIGSTOP: its connections stay open and nothing answers, as a hung machine. */
  freeze(name: string): void {
    this.node(name).daemon.child!.kill("SIGSTOP");
    this.frozen.add(name);
  }

  thaw(name: string): void {
    this.node(name).daemon.child?.kill("SIGCONT");
    this.frozen.delete(name);
  }

  async startNode(name: string): Promise<void> {
    await this.node(name).daemon.start();
  }

  /** What the node has on the host now: its cgroups, nft table, mounts under its root, interfaces. */
  footprint(name: string): Footprint {
    const n = this.node(name);
    return footprint(n.ns, n.nftTable, n.cgroupParent, n.daemon.root);
  }

  async start(): Promise<void> {
    cleanNetwork();
    const addresses = this.specs.map((_, i) => `${NET}.${11 + i}`);
    this.certs = makeCerts([this.hostAddress, ...addresses]);
    addBridge();
    for (const [i, spec] of this.specs.entries()) addNamespace(`sbx${SLOT}-${spec.name}`, i, addresses[i]!);

    if (this.opts.registry) {
      const tls = { cert: join(this.certs.dir, "node.crt"), key: join(this.certs.dir, "node.key"), ca: this.certs.ca };
      this.registry = new TestRegistry(this.opts.registryAuth, { address: this.hostAddress, tls });
    }
    [this.pg] = await Promise.all([startPgCluster(), this.registry?.start()]);
    const withRegistry = this.registry ? ["--registry", this.registry.host] : [];
    // Every daemon trusts the fleet's CA (the registry's HTTPS): Node reads it at start.
    const trust = { NODE_EXTRA_CA_CERTS: join(this.certs.dir, "ca.crt") };
    const replicas = this.opts.replicas ?? 1;
    if (this.opts.controlProxy) this.controlProxyPort = await freePort();
    for (let i = 0; i < replicas; i++) {
      this.ports.push(await freePort());
      const extra = this.opts.daemonExtras?.(`control${i}`) ?? {};
      const d = new TestDaemon({
        name: `fleet-ctl-${i}`,
        // Replicas live in the host's network namespace but touch no host networking (control-host.e2e);
        // an index no other test daemon uses keeps their names apart anyway.
        netIndex: 10 + i,
        extraArgs: [
          ...["--warm-pool", "0", "--role", "control", "--store", this.pg.url, ...withRegistry],
          ...["--listen-tcp", `${this.hostAddress}:${this.ports[i]}`],
          ...(this.opts.nodeTls ? ["--node-ca", join(this.certs.dir, "ca.crt")] : []),
          ...(this.opts.controlProxy && i === 0
            ? ["--proxy-listen", `${this.hostAddress}:${this.controlProxyPort}`]
            : []),
          ...(extra.args ?? []),
        ],
      });
      Object.assign(d.env, trust, extra.env ?? {}, {
        SBX_CLUSTER_SECRET: SECRET,
        SBX_NODE_LEASE_SECS: String(this.opts.leaseSecs ?? 3),
        ...(this.opts.giveUpSecs ? { SBX_NODE_GIVE_UP_SECS: String(this.opts.giveUpSecs) } : {}),
      });
      this.controls.push(d);
    }
    // Together: each migrates PostgreSQL under an advisory lock, so only one does it.
    await Promise.all(this.controls.map(async (d) => (await d.reset(), await d.start())));
    for (const [i, spec] of this.specs.entries()) {
      const labels = Object.entries(spec.labels ?? {}).flatMap(([k, v]) => ["--label", `${k}=${v}`]);
      let token = "";
      if (spec.add !== false) {
        const added = await this.sbxAsync(["node", "add", spec.name, ...labels, "--json"]);
        expect(added.code, added.stderr).toBe(0);
        token = (JSON.parse(added.stdout) as { token: string }).token;
      }
      const address = addresses[i]!;
      const ns = `sbx${SLOT}-${spec.name}`;
      const extra = this.opts.daemonExtras?.(spec.name) ?? {};
      const daemon = new TestDaemon({
        name: `fleet-${spec.name}`,
        netIndex: 3 + i,
        wrap: ["nsenter", `--net=/run/netns/${ns}`, "--"],
        extraArgs: [
          ...["--warm-pool", "0", "--role", "node", ...withRegistry],
          "--listen-tcp",
          `${address}:${NODE_PORT}`,
          ...(extra.args ?? []),
        ],
      });
      const node: FleetNode = {
        name: spec.name,
        daemon,
        ns,
        address,
        url: `${this.opts.nodeTls ? "https" : "http"}://${address}:${NODE_PORT}`,
        token,
        cgroupParent: `sbx-test${SLOT}-${spec.name}`,
        nftTable: `sbx_${spec.name}`,
        local: new SandboxClient({ host: daemon.host }),
      };
      Object.assign(daemon.env, trust, this.opts.nodeEnv ?? {}, spec.env ?? {}, extra.env ?? {}, {
        SBX_CONTROL: this.controlUrl(replicas - 1),
        SBX_NODE_TOKEN: token,
        SBX_CGROUP_PARENT: node.cgroupParent,
        SBX_NFT_TABLE: node.nftTable,
        // Its port proxy where the control plane's relay reaches it: its own address.
        SBX_PROXY_LISTEN: `${address}:0`,
      });
      this.byName.set(spec.name, node);
      if (this.opts.nodeTls) this.useCert(spec.name, "node");
      await daemon.reset();
      removeCgroupTree(cgroupDirs(node.cgroupParent)[0]!);
    }
    const starting = this.specs.filter((s) => s.start !== false && s.add !== false);
    await Promise.all(starting.map((s) => this.startNode(s.name)));
    for (const s of starting) await this.waitState(s.name, "ready");
  }

  /** Stops everything, removes every namespace, veth, cgroup, mount and dir; safe after any failure. */
  async stop(): Promise<void> {
    for (const n of this.byName.values()) {
      this.thaw(n.name);
      for (const s of await n.local.list().catch(() => [])) await n.local.terminate(s.id).catch(() => undefined);
      await n.daemon.stop();
    }
    for (const d of this.controls) await d.stop();
    await this.pg?.stop();
    await this.registry?.stop();
    for (const n of this.byName.values()) {
      await n.daemon.reset(); // containers, mounts and the dir
      rmSync(n.daemon.root, { recursive: true, force: true });
      for (const d of cgroupDirs(n.cgroupParent)) removeCgroupTree(d);
    }
    for (const d of this.controls) {
      await d.reset();
      rmSync(d.root, { recursive: true, force: true });
    }
    cleanNetwork();
    if (this.certs) rmSync(this.certs.dir, { recursive: true, force: true });
  }
}

export { NODE_MTU, type Footprint } from "./fleet-host.js";
export { waitFor };

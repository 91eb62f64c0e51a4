// Invariants a daemon must keep whatever happened to it (kill -9, a full disk): nothing on the host
// that no live sandbox owns (mounts, crun containers, cgroups, veths, netns, nft egress rules, layer
// dirs), and nothing half-registered (every listed image and snapshot starts, builds and snapshots
// that were cut short are failed). Each check returns problems as sentences; [] means all is well.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { Sandbox, type SandboxClient, type SandboxInfo } from "@sbx-sh/sdk";
import type { TestDaemon } from "../harness.js";

/** A file that must read back as `content` in sandboxes started from a snapshot or image. */
export interface Marker {
  path: string;
  content: string;
}

const CGROUP_ROOT = "/sys/fs/cgroup";

export class Invariants {
  constructor(
    readonly daemon: TestDaemon,
    readonly client: SandboxClient,
    /** The daemon's warm pool size: that many blank containers the store does not know are fine. */
    readonly poolSize: number,
  ) {}

  get dataDir(): string {
    return this.daemon.env.SBX_DATA_DIR!;
  }

  /** Containers of this daemon on the host now; crun's state is on disk, so this works while the daemon is dead. */
  containers(): string[] {
    const r = spawnSync("crun", ["--root", join(this.daemon.root, "run", "crun"), "list", "-q"]);
    return (r.stdout?.toString() ?? "").split("\n").filter(Boolean);
  }

  /**
   * What is on the host that no live sandbox owns. `formerIds`: containers seen before a kill (and
   * any other ids of this daemon): whichever of them is not live now must have left nothing behind.
   */
  async hostLeaks(formerIds: Iterable<string> = []): Promise<string[]> {
    const problems: string[] = [];
    const all = await this.client.list({ all: true });
    const live = all.filter((s) => s.status === "running");
    const liveIds = new Set(live.map((s) => s.id));
    const containers = this.containers();
    // Blanks of the warm pool are containers the store does not know; nothing else may be.
    const blanks = containers.filter((id) => !liveIds.has(id));
    const strangers = blanks.filter((id) => !id.startsWith("sb-"));
    // The pool keeps poolSize blanks with a network and poolSize without.
    if (strangers.length || blanks.length > 2 * this.poolSize)
      problems.push(`containers no sandbox owns: ${blanks.join(", ")}`);
    for (const s of live)
      if (!containers.includes(s.id)) problems.push(`sandbox ${s.id} is running in the store but has no container`);
    const owners = new Set([...liveIds, ...blanks]);
    const former = new Set([...formerIds, ...all.filter((s) => s.status !== "running").map((s) => s.id)]);
    for (const id of blanks)
      if (former.has(id)) problems.push(`container ${id} of the previous daemon survived the restart`);

    const sandboxesDir = join(this.dataDir, "sandboxes");
    for (const m of mountsUnder(this.dataDir)) {
      const rel = m.slice(sandboxesDir.length + 1).split("/")[0];
      if (!m.startsWith(sandboxesDir + "/") || !owners.has(rel!)) problems.push(`leaked mount ${m}`);
    }
    for (const id of existsSync(sandboxesDir) ? readdirSync(sandboxesDir) : []) {
      if (!owners.has(id)) problems.push(`leaked sandbox dir ${id}`);
    }
    for (const id of former) {
      if (owners.has(id)) continue;
      for (const dir of cgroupDirs(id)) problems.push(`leaked cgroup ${dir}`);
    }
    for (const [id, pid] of netnsOwners()) {
      if (former.has(id) && !owners.has(id)) problems.push(`leaked network namespace of ${id} (held by pid ${pid})`);
    }

    // Networked blanks hold a slot too: the address inside their netns says which.
    const blankAddresses = blanks.flatMap((id) => this.blankAddress(id) ?? []);
    const slots = new Set(
      [...live, ...blankAddresses.map((ipAddress) => ({ ipAddress }) as SandboxInfo)].flatMap((s) =>
        s.ipAddress ? [this.slotOf(s)] : [],
      ),
    );
    const prefix = this.daemon.env.SBX_IF_PREFIX!;
    const veth = new RegExp(`^${prefix}(\\d+)$`);
    const links = JSON.parse(execFileSync("ip", ["-j", "link", "show", "type", "veth"]).toString() || "[]") as Array<{
      ifname: string;
    }>;
    for (const { ifname } of links) {
      const m = veth.exec(ifname);
      if (m && !slots.has(Number(m[1]))) problems.push(`leaked veth ${ifname}`);
    }
    const chainHead = `sbx_eg_${prefix.replace(/-/g, "_")}`;
    for (const name of nftChains("sbx")) {
      const m = new RegExp(`^${chainHead}(\\d+)$`).exec(name);
      if (m && !slots.has(Number(m[1]))) problems.push(`leaked nft egress chain ${name}`);
    }
    const map = spawnSync("nft", ["list", "map", "inet", "sbx", "sbx_egress"]).stdout?.toString() ?? "";
    for (const m of map.matchAll(new RegExp(`"${prefix}(\\d+)"`, "g"))) {
      if (!slots.has(Number(m[1]))) problems.push(`leaked nft egress map element ${prefix}${m[1]}`);
    }
    problems.push(...this.layerLeaks());
    return problems;
  }

  /** Committed layer dirs on disk that the store does not list, and temp dirs of commits that never finished. */
  layerLeaks(): string[] {
    const layersDir = join(this.dataDir, "layers");
    if (!existsSync(layersDir)) return [];
    const db = new Database(join(this.dataDir, "sbx.db"), { readonly: true, fileMustExist: true });
    let listed: Set<string>;
    try {
      listed = new Set(
        (db.prepare("SELECT doc FROM layers").all() as Array<{ doc: string }>).map(
          (r) => (JSON.parse(r.doc) as { dir: string | null }).dir ?? "",
        ),
      );
    } finally {
      db.close();
    }
    const problems: string[] = [];
    for (const name of readdirSync(layersDir)) {
      // Base image rootfs dirs (64 hex) belong to the base image store, which sweeps its own temps.
      if (/^[0-9a-f]{64}$/.test(name) || /^\.tmp-[0-9a-f]+-[0-9a-f]+(\.old)?$/.test(name)) continue;
      if (!listed.has(join(layersDir, name))) problems.push(`layer dir ${name} is on disk but not in the store`);
    }
    return problems;
  }

  /** hostLeaks, retried for a while: a fresh daemon may still be filling its pool, but a leak never goes away. */
  async expectNoLeaks(formerIds: Iterable<string> = [], timeoutMs = 20_000): Promise<void> {
    const ids = [...formerIds];
    const until = Date.now() + timeoutMs;
    for (;;) {
      const problems = await this.hostLeaks(ids);
      if (problems.length === 0) return;
      if (Date.now() > until) throw new Error(`host leaks:\n  ${problems.join("\n  ")}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  /**
   * Nothing half-registered: lists answer; no build or snapshot is still in progress (call this
   * after a restart, with nothing started since); every completed snapshot and every built image
   * starts a sandbox, in which its marker (if one is known) reads back.
   */
  async registryProblems(
    markers: { snapshots?: Map<string, Marker>; images?: Map<string, Marker> } = {},
  ): Promise<string[]> {
    const problems: string[] = [];
    const [snaps, images, builds] = await Promise.all([
      this.client.listSnapshots(),
      this.client.listImages(),
      this.client.listBuilds(),
    ]);
    await this.client.list({ all: true });
    for (const b of builds)
      if (b.state === "queued" || b.state === "running")
        problems.push(`build ${b.id} is still ${b.state} after a restart`);
    for (const s of snaps)
      if (s.status === "in_progress") problems.push(`snapshot ${s.id} is still in progress after a restart`);
    for (const b of builds) {
      const registered = images.some((i) => i.buildId === b.id);
      if (b.state === "succeeded" && !registered && !images.some((i) => i.id === b.imageId))
        problems.push(`build ${b.id} succeeded but its image ${b.imageId} is not listed`);
      if (b.state !== "succeeded" && registered) problems.push(`build ${b.id} is ${b.state} but registered an image`);
    }
    const starts: Array<[string, { snapshotId: string } | { image: string }, Marker | undefined]> = [
      ...snaps
        .filter((s) => s.status === "completed")
        .map((s): [string, { snapshotId: string }, Marker | undefined] => [
          `snapshot ${s.id}`,
          { snapshotId: s.id },
          markers.snapshots?.get(s.id),
        ]),
      ...images
        .filter((i) => i.kind === "built")
        .map((i): [string, { image: string }, Marker | undefined] => [
          `image ${i.name}:${i.tag}`,
          { image: `${i.name}:${i.tag}` },
          markers.images?.get(`${i.name}:${i.tag}`),
        ]),
    ];
    for (const [what, from, marker] of starts) problems.push(...(await this.startsFrom(what, from, marker)));
    return problems;
  }

  private async startsFrom(
    what: string,
    from: { snapshotId: string } | { image: string },
    marker: Marker | undefined,
  ): Promise<string[]> {
    let sb: SandboxInfo | undefined;
    try {
      sb = await this.client.create({ ...from, allowInternetAccess: false, timeoutSecs: 120 });
      const handle = await Sandbox.connect(sb.id, this.client);
      const r = await handle.run("cat", { args: [marker?.path ?? "/etc/os-release"] });
      if (r.exitCode !== 0) return [`${what}: reading ${marker?.path ?? "/etc/os-release"} failed: ${r.stderr}`];
      if (marker && r.stdout !== marker.content)
        return [`${what}: ${marker.path} reads ${JSON.stringify(r.stdout)}, not ${JSON.stringify(marker.content)}`];
      return [];
    } catch (err) {
      return [`${what} does not start: ${err instanceof Error ? err.message : String(err)}`];
    } finally {
      if (sb) await this.client.terminate(sb.id).catch(() => undefined);
    }
  }

  /** The IPv4 address of a blank's eth0, or undefined when it has no network. */
  private blankAddress(id: string): string | undefined {
    const state = spawnSync("crun", ["--root", join(this.daemon.root, "run", "crun"), "state", id]);
    if (state.status !== 0) return undefined;
    const pid = (JSON.parse(state.stdout.toString()) as { pid: number }).pid;
    const r = spawnSync("nsenter", ["-t", String(pid), "-n", "ip", "-j", "-4", "addr", "show", "dev", "eth0"]);
    if (r.status !== 0) return undefined;
    const links = JSON.parse(r.stdout.toString() || "[]") as Array<{ addr_info?: Array<{ local: string }> }>;
    return links[0]?.addr_info?.[0]?.local;
  }

  private slotOf(s: SandboxInfo): number {
    const base = ipToInt(this.daemon.env.SBX_SUBNET!.split("/")[0]!);
    return (ipToInt(s.ipAddress!) - base - 2) / 4;
  }
}

export function mountsUnder(dir: string): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4] ?? "")
    .filter((m) => m.startsWith(dir + "/"));
}

/** The sandbox's cgroup dirs that exist, on v2 or on every v1 controller. */
function cgroupDirs(id: string): string[] {
  const unified = existsSync(join(CGROUP_ROOT, "cgroup.controllers"));
  const parents = unified
    ? [join(CGROUP_ROOT, "sbx")]
    : readdirSync(CGROUP_ROOT).map((c) => join(CGROUP_ROOT, c, "sbx"));
  return parents.map((p) => join(p, id)).filter((d) => existsSync(d));
}

/** Sandbox id → a pid holding a network namespace, for namespaces whose processes sit in an sbx cgroup. */
function netnsOwners(): Map<string, number> {
  const out = new Map<string, number>();
  const r = spawnSync("lsns", ["-t", "net", "-J", "-o", "NS,PID"]);
  const list = (JSON.parse(r.stdout?.toString() || "{}") as { namespaces?: Array<{ pid: number }> }).namespaces ?? [];
  for (const { pid } of list) {
    const cg = (() => {
      try {
        return readFileSync(`/proc/${pid}/cgroup`, "utf8");
      } catch {
        return "";
      }
    })();
    const m = /:\/sbx\/((?:sb|bld)-[^/\n]+)/.exec(cg);
    if (m) out.set(m[1]!, pid);
  }
  return out;
}

function nftChains(table: string): string[] {
  const r = spawnSync("nft", ["-j", "list", "chains", "inet"]);
  const listed =
    (JSON.parse(r.stdout?.toString() || "{}") as { nftables?: Array<{ chain?: { table: string; name: string } }> })
      .nftables ?? [];
  return listed.flatMap((e) => (e.chain?.table === table ? [e.chain.name] : []));
}

function ipToInt(ip: string): number {
  return ip.split(".").reduce((a, p) => a * 256 + Number(p), 0);
}

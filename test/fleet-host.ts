// The host side of a test fleet (test/cluster-harness.ts): the bridge and the nodes' network
// namespaces, their cgroup parents, the TLS material, and what a node leaves on the host (its
// footprint, compared before and after to find leaks). Only `ip`, `nft` and `openssl` run here.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const SLOT = process.env.SBX_TEST_SLOT || "t";
export const NET = `10.250.${SLOT === "t" ? 10 : Number(SLOT)}`;
export const BRIDGE = `sbx${SLOT}fleet`;
/** Every node's uplink (its namespace's eth0) MTU. */
export const NODE_MTU = 1450;
/** Where every node's TCP API listens in its own namespace. */
export const NODE_PORT = 7080;

/** The bridge's address: where the replicas, the registry and the control proxy listen. */
export const HOST_ADDRESS = `${NET}.1`;

/** What a node leaves on the host: compared before and after to find leaks. */
export interface Footprint {
  cgroups: string[];
  nft: string;
  mounts: string[];
  links: string[];
}

const ip = (...args: string[]): { code: number; stderr: string } => {
  const r = spawnSync("ip", args, { encoding: "utf8" });
  return { code: r.status ?? -1, stderr: r.stderr };
};

function must(...args: string[]): void {
  const r = ip(...args);
  if (r.code !== 0) throw new Error(`ip ${args.join(" ")}: ${r.stderr}`);
}

/** Every cgroup hierarchy's dir for `parent` (v2: one; v1: one per mounted controller). */
export function cgroupDirs(parent: string): string[] {
  const root = "/sys/fs/cgroup";
  if (existsSync(join(root, "cgroup.controllers"))) return [join(root, parent)];
  return readdirSync(root).map((c) => join(root, c, parent));
}

/** Removes a cgroup tree bottom-up (only empty cgroups can go; a live one stays and is reported). */
export function removeCgroupTree(dir: string): void {
  if (!existsSync(dir)) return;
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) removeCgroupTree(join(dir, e.name));
  try {
    rmdirSync(dir);
  } catch {
    // Still has processes: the caller's leak check names it.
  }
}

/** A CA, a leaf it signs for every fleet address, and a rogue CA's leaf for the same addresses. */
export function makeCerts(ips: string[]): { dir: string; ca: Buffer } {
  const dir = mkdtempSync(join(tmpdir(), "sbx-fleet-tls-"));
  const ssl = (...args: string[]): void => {
    const r = spawnSync("openssl", args, { cwd: dir, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`openssl ${args.join(" ")}: ${r.stderr}`);
  };
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  writeFileSync(join(dir, "san.ext"), `subjectAltName=${ips.map((a) => `IP:${a}`).join(",")}\n`);
  for (const ca of ["ca", "rogue-ca"]) {
    ssl("req", "-x509", ...ec, "-keyout", `${ca}.key`, "-out", `${ca}.crt`, "-days", "2", "-subj", `/CN=${ca}`);
    const leaf = ca === "ca" ? "node" : "rogue";
    ssl("req", ...ec, "-keyout", `${leaf}.key`, "-out", `${leaf}.csr`, "-subj", `/CN=${ips[0]}`);
    const signer = ["-CA", `${ca}.crt`, "-CAkey", `${ca}.key`, "-CAcreateserial", "-days", "2"];
    ssl("x509", "-req", "-in", `${leaf}.csr`, ...signer, "-out", `${leaf}.crt`, "-extfile", "san.ext");
  }
  return { dir, ca: readFileSync(join(dir, "ca.crt")) };
}

/** The bridge every node's namespace hangs off, with the host's fleet address. */
export function addBridge(): void {
  must("link", "add", BRIDGE, "type", "bridge");
  must("addr", "add", `${HOST_ADDRESS}/24`, "dev", BRIDGE);
  must("link", "set", BRIDGE, "up");
}

/** A namespace with lo up and one veth on the bridge: address, default route via the host. */
export function addNamespace(ns: string, i: number, address: string): void {
  const hostEnd = `sbx${SLOT}f${i}`;
  must("netns", "add", ns);
  // Another uplink MTU than the host's: a node must size its sandboxes' veths from its own.
  const mtu = ["mtu", String(NODE_MTU)];
  must("link", "add", hostEnd, ...mtu, "type", "veth", "peer", "name", "eth0", ...mtu, "netns", ns);
  must("link", "set", hostEnd, "master", BRIDGE, "up");
  must("-n", ns, "link", "set", "lo", "up");
  must("-n", ns, "addr", "add", `${address}/24`, "dev", "eth0");
  must("-n", ns, "link", "set", "eth0", "up");
  must("-n", ns, "route", "add", "default", "via", HOST_ADDRESS);
}

/** Namespaces (their veths go with them) and the bridge of this slot, from this run or a dead one. */
export function cleanNetwork(): void {
  const list = spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout ?? "";
  for (const m of list.matchAll(new RegExp(`^(sbx${SLOT}-[\\w-]+)`, "gm"))) {
    // Anything still running in it (a sandbox a dead node left) goes first.
    const pids = (spawnSync("ip", ["netns", "pids", m[1]!], { encoding: "utf8" }).stdout ?? "").split(/\s+/);
    for (const pid of pids.filter(Boolean)) spawnSync("kill", ["-9", pid]);
    ip("netns", "del", m[1]!);
  }
  ip("link", "del", BRIDGE);
}

/** What a node has on the host now: its cgroups, nft table, mounts under its root, interfaces. */
export function footprint(ns: string, nftTable: string, cgroupParent: string, root: string): Footprint {
  const cgroups = cgroupDirs(cgroupParent).flatMap((d) =>
    existsSync(d)
      ? readdirSync(d, { withFileTypes: true })
          .filter((e) => e.isDirectory())
          .map((e) => join(d, e.name))
      : [],
  );
  // Counters move with traffic; what is compared is the rules, chains and set elements.
  const nft = spawnSync("ip", ["netns", "exec", ns, "nft", "list", "table", "inet", nftTable], {
    encoding: "utf8",
  }).stdout.replace(/packets \d+ bytes \d+/g, "packets - bytes -");
  const mounts = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4] ?? "")
    // Its staged helper binaries (runtime/tool-stage.ts) are the daemon's, made once for all sandboxes.
    .filter((m) => m.startsWith(root + "/") && m !== join(root, "run-tools"))
    .sort();
  const links = (spawnSync("ip", ["-n", ns, "-o", "link"], { encoding: "utf8" }).stdout ?? "")
    .split("\n")
    .flatMap((l) => (/^\d+: ([^:@]+)/.exec(l)?.[1] ? [/^\d+: ([^:@]+)/.exec(l)![1]!] : []))
    .sort();
  return { cgroups: cgroups.sort(), nft, mounts, links };
}

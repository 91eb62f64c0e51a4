// The sandbox network on the real kernel (netns, veth, nftables), with namespaces standing in for
// sandboxes and for "the internet", so it needs root (skipped otherwise). Pure parts: ./network.test.ts.
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync, readlinkSync } from "node:fs";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NetworkManager, type SandboxNetwork } from "./network.js";
import { CHAINS, SANDBOX_IFGROUP, SPOOF_COUNTER, SUBNET_SET } from "./nft-ruleset.js";
import { inNs, must, sh } from "./testing/netns.js";

const isRoot = process.getuid?.() === 0;
const NODE = process.execPath;
// Everything this run creates is named and numbered per run: other suites (and other runs of this
// one) may share the host, and a daemon's cleanupLeaks removes any veth with its own prefix.
const RUN = Array.from({ length: 4 }, () => String.fromCharCode(97 + Math.floor(Math.random() * 26))).join("");
const R = () => Math.floor(Math.random() * 250) + 1;
const TEST_SUBNET = `10.${240 + Math.floor(Math.random() * 10)}.${R()}.0/24`;
const TEST_PREFIX = `sx${RUN}`;
// Our own fake internet: 198.18.0.0/15 is reserved for benchmarking and routed nowhere.
const INET_HOST = `sx${RUN}-i`;
const [INET_GW, INET_PEER, INET_SERVER] = ((n) => [`198.18.${n}.1`, `198.18.${n}.2`, `198.19.${n}.1`])(R());
// A link-local address inside our fake internet, standing in for a cloud metadata service.
const LINK_LOCAL = `169.254.${R()}.${R()}`;
const STRAY_PEER = `sx${RUN}-p`;
const SERVER_JS = `const [port, tag] = process.argv.slice(1);
require("net").createServer((s) => s.end(tag + " " + s.remoteAddress + "\\n")).listen(+port, "0.0.0.0", () => console.log("ready"));`;

/** TCP connect from inside a netns; a dropped SYN shows as the 2 s timeout (exit 124). */
const connectFrom = (pid: number, host: string, port: number) =>
  sh("nsenter", [
    "-t",
    String(pid),
    "-n",
    "--",
    "timeout",
    "2",
    "bash",
    "-c",
    'exec 3<>"/dev/tcp/$0/$1" && cat <&3',
    host,
    String(port),
  ]);

describe.skipIf(!isRoot)("NetworkManager on this host's kernel (needs root)", () => {
  // The default table: its rules match the sandbox netdev group, not a prefix or subnet, so they are
  // exactly what a daemon on this host loads, and reloading them here disturbs no one.
  const nm = new NetworkManager({ subnet: TEST_SUBNET, interfacePrefix: TEST_PREFIX });
  const children: ChildProcess[] = [];
  const hostServer = net.createServer((s) => {
    seenByHost.push(s.remoteAddress ?? "");
    s.end("host\n");
  });
  const seenByHost: string[] = [];
  let hostPort = 0;
  const slots: number[] = [];
  let a: { pid: number; net?: SandboxNetwork };
  let b: { pid: number; net?: SandboxNetwork };
  let inet: { pid: number };
  const port = 18000 + Math.floor(Math.random() * 2000);

  async function holder(): Promise<{ pid: number }> {
    // Short-lived on purpose: if this run is killed, the namespaces and their veths go with it.
    const c = spawn("unshare", ["--net", "--", "sleep", "120"], { stdio: "ignore" });
    children.push(c);
    const self = readlinkSync("/proc/self/ns/net");
    const ownNetns = () => {
      try {
        return readlinkSync(`/proc/${c.pid}/ns/net`) !== self;
      } catch {
        return false;
      }
    };
    for (let i = 0; i < 400 && !ownNetns(); i++) await new Promise((r) => setTimeout(r, 5));
    if (!ownNetns()) throw new Error("unshare --net did not give the holder its own network namespace");
    await inNs(c.pid!, ["ip", "link", "set", "lo", "up"]); // as crun does
    return { pid: c.pid! };
  }
  async function serveIn(pid: number, tag: string): Promise<void> {
    const c = spawn("nsenter", ["-t", String(pid), "-n", "--", NODE, "-e", SERVER_JS, String(port), tag], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    children.push(c);
    await new Promise<void>((resolve, reject) => {
      c.stdout!.once("data", () => resolve());
      c.once("exit", (code) => reject(new Error(`server ${tag} exited ${code}`)));
    });
  }

  beforeAll(async () => {
    slots.push(0, 1, nm.capacity - 1);
    await new Promise<void>((r) => hostServer.listen(0, "0.0.0.0", r));
    hostPort = (hostServer.address() as net.AddressInfo).port;
    [a, b, inet] = [await holder(), await holder(), await holder()];
    // "The internet": a namespace behind its own veth, with a server on a routed (not connected) address.
    await must("ip", ["link", "add", INET_HOST, "type", "veth", "peer", "name", "eth0", "netns", String(inet.pid)]);
    await must("ip", ["addr", "add", `${INET_GW}/30`, "dev", INET_HOST]);
    await must("ip", ["link", "set", INET_HOST, "up"]);
    await inNs(inet.pid, ["ip", "addr", "add", `${INET_PEER}/30`, "dev", "eth0"]);
    await inNs(inet.pid, ["ip", "addr", "add", `${INET_SERVER}/32`, "dev", "lo"]);
    await inNs(inet.pid, ["ip", "addr", "add", `${LINK_LOCAL}/32`, "dev", "lo"]);
    await inNs(inet.pid, ["ip", "link", "set", "eth0", "up"]);
    await inNs(inet.pid, ["ip", "route", "add", nm.subnet, "via", INET_GW]);
    await must("ip", ["route", "add", `${INET_SERVER}/32`, "via", INET_PEER]);
    await must("ip", ["route", "add", `${LINK_LOCAL}/32`, "via", INET_PEER]);
    await Promise.all([serveIn(b.pid, "b"), serveIn(inet.pid, "inet")]);
  }, 30_000);

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    await sh("ip", ["link", "del", INET_HOST]); // its route goes with it
    await sh("ip", ["link", "del", STRAY_PEER]);
    for (const s of slots) await nm.detach("test", s).catch(() => undefined);
    await new Promise((r) => hostServer.close(r));
    // Best effort: our random subnet would otherwise stay in the NAT set until reboot.
    await sh("nft", ["delete", "element", "inet", nm.tableName, SUBNET_SET, `{ ${nm.subnet} }`]);
    // ip_forward stays 1 and the inet sbx table stays: together they are the state a daemon on
    // this host sets up, and a daemon (or the e2e suite) started meanwhile relies on both. With
    // the table's forward policy drop, forwarding does not make the host a router for anyone else.
  }, 30_000);

  it("ensureHost is idempotent: one table, same rules, forwarding on", async () => {
    await nm.ensureHost();
    // -s: without counter values, which a daemon's sandboxes on this host may be moving. The
    // subnet set may grow meanwhile if other managers load theirs, so compare the chains only.
    const chains = async () =>
      (
        await Promise.all(
          Object.values(CHAINS).map((c) => must("nft", ["-s", "list", "chain", "inet", nm.tableName, c])),
        )
      ).join("");
    const first = await chains();
    await nm.ensureHost();
    expect(await chains()).toBe(first);
    const tables = JSON.parse(await must("nft", ["-j", "list", "tables"])) as {
      nftables: Array<{ table?: { family: string; name: string } }>;
    };
    expect(tables.nftables.filter((e) => e.table?.family === "inet" && e.table.name === nm.tableName)).toHaveLength(1);
    expect(first).toContain("policy drop;");
    expect(readFileSync("/proc/sys/net/ipv4/ip_forward", "utf8").trim()).toBe("1");
  });

  it("attach gives the sandbox eth0 with its address and a default route via the host", async () => {
    a.net = await nm.attach("sbx-a", slots[0]!, a.pid);
    // A stale interface of the slot (say, of a dead sandbox) is replaced, not an error.
    await must("ip", [
      "link",
      "add",
      nm.networkFor(slots[1]!).hostInterface,
      "type",
      "veth",
      "peer",
      "name",
      STRAY_PEER,
    ]);
    b.net = await nm.attach("sbx-b", slots[1]!, b.pid);
    expect(a.net).toEqual(nm.networkFor(slots[0]!));
    const addrs = JSON.parse(await inNs(a.pid, ["ip", "-j", "-4", "addr", "show", "dev", "eth0"])) as Array<{
      operstate: string;
      addr_info: Array<{ local: string; prefixlen: number }>;
    }>;
    expect(addrs[0]?.addr_info).toEqual([expect.objectContaining({ local: a.net.ipAddress, prefixlen: 30 })]);
    const routes = JSON.parse(await inNs(a.pid, ["ip", "-j", "route", "show", "default"])) as Array<{
      gateway: string;
      dev: string;
    }>;
    expect(routes).toEqual([expect.objectContaining({ gateway: a.net.gateway, dev: "eth0" })]);
    const [hostLink] = JSON.parse(await must("ip", ["-j", "link", "show", "dev", a.net.hostInterface])) as Array<{
      group: string;
      operstate: string;
    }>;
    expect(hostLink).toEqual(expect.objectContaining({ group: String(SANDBOX_IFGROUP), operstate: "UP" }));
    expect(await nm.listAttached()).toEqual(
      expect.arrayContaining([
        { hostInterface: a.net.hostInterface, slot: slots[0] },
        { hostInterface: b.net.hostInterface, slot: slots[1] },
      ]),
    );
  });

  it("egress is NATed to the outside, and the outside cannot open connections to a sandbox", async () => {
    const out = await connectFrom(a.pid, INET_SERVER, port);
    expect(out.stdout).toBe(`inet ${INET_GW}\n`); // the server saw the host's address: masqueraded
    const inbound = await connectFrom(inet.pid, b.net!.ipAddress, port);
    expect(inbound.code).toBe(124);
  }, 15_000);

  it("a sandbox never reaches link-local addresses (cloud metadata), while the host does", async () => {
    expect(
      (await must("sh", ["-c", `timeout 3 bash -c 'exec 3<>/dev/tcp/${LINK_LOCAL}/${port}; head -1 <&3'`])).trim(),
    ).toMatch(/^inet /);
    expect((await connectFrom(a.pid, LINK_LOCAL, port)).code).toBe(124);
    expect((await connectFrom(a.pid, INET_SERVER, port)).stdout).toMatch(/^inet /);
  }, 15_000);

  it("a sandbox cannot reach the host on any of its addresses", async () => {
    const targets = [a.net!.gateway, b.net!.gateway, "127.0.0.1", INET_GW, await primaryAddress()].filter(
      (t): t is string => !!t,
    );
    const results = await Promise.all(targets.map((t) => connectFrom(a.pid, t, hostPort)));
    // 127.0.0.1 is the sandbox's own loopback (refused there); every host address must be dropped.
    for (const [i, r] of results.entries())
      expect([targets[i], r.stdout, r.code === 124 || targets[i] === "127.0.0.1"]).toEqual([targets[i], "", true]);
    expect(seenByHost).toEqual([]);
    // Control: the same server answers a namespace that is not a sandbox.
    expect((await connectFrom(inet.pid, INET_GW, hostPort)).stdout).toBe("host\n");
  }, 15_000);

  it("sandboxes cannot reach each other", async () => {
    expect((await connectFrom(a.pid, b.net!.ipAddress, port)).code).toBe(124);
    // Control: b's server is up and reachable from the host.
    expect((await connectFrom(inet.pid, INET_GW, hostPort)).code).toBe(0);
    const fromHost = await new Promise<string>((resolve, reject) => {
      const s = net.connect(port, b.net!.ipAddress);
      let data = "";
      s.on("data", (d) => (data += d.toString()))
        .on("end", () => resolve(data))
        .on("error", reject);
    });
    expect(fromHost).toBe(`b ${b.net!.gateway}\n`);
  }, 15_000);

  it("a sandbox cannot send with another sandbox's source address", async () => {
    // a takes b's address as its source; strict reverse-path filtering must drop it at the host.
    // Only the drop counter tells: without the filter the reply would go to b, failing a's connect too.
    const before = await spoofDrops();
    // The gateway's MAC pinned in a first: an ARP request sent with b's address as its sender is
    // itself refused by the host's reverse-path check, and a neighbour entry that had gone stale
    // would then keep the spoofed SYN from ever leaving (nothing to count: a flaky test).
    const link = JSON.parse(await must("ip", ["-j", "link", "show", a.net!.hostInterface])) as Array<{
      address: string;
    }>;
    await inNs(a.pid, [
      "ip",
      "neigh",
      "replace",
      a.net!.gateway,
      "lladdr",
      link[0]!.address,
      "dev",
      "eth0",
      "nud",
      "permanent",
    ]);
    await inNs(a.pid, ["ip", "addr", "add", `${b.net!.ipAddress}/32`, "dev", "eth0"]);
    await inNs(a.pid, ["ip", "route", "replace", "default", "via", a.net!.gateway, "src", b.net!.ipAddress]);
    const spoofed = await connectFrom(a.pid, INET_SERVER, port);
    await inNs(a.pid, ["ip", "route", "replace", "default", "via", a.net!.gateway]);
    await inNs(a.pid, ["ip", "addr", "del", `${b.net!.ipAddress}/32`, "dev", "eth0"]);
    await inNs(a.pid, ["ip", "neigh", "del", a.net!.gateway, "dev", "eth0"]);
    expect(spoofed.stdout).toBe("");
    expect(await spoofDrops()).toBeGreaterThan(before);
    expect((await connectFrom(a.pid, INET_SERVER, port)).stdout).toBe(`inet ${INET_GW}\n`);
  }, 15_000);

  it("detach removes the veth and tolerates a second call", async () => {
    await nm.detach("sbx-a", slots[0]!);
    expect((await sh("ip", ["link", "show", a.net!.hostInterface])).code).not.toBe(0);
    expect((await sh("nsenter", ["-t", String(a.pid), "-n", "ip", "link", "show", "eth0"])).code).not.toBe(0);
    await expect(nm.detach("sbx-a", slots[0]!)).resolves.toBeUndefined();
    expect((await nm.listAttached()).map((l) => l.slot)).not.toContain(slots[0]);
  });

  it("cleanupLeaks deletes sandbox veths whose slot is not live", async () => {
    const stray = nm.networkFor(slots[2]!).hostInterface;
    await must("ip", ["link", "add", stray, "type", "veth", "peer", "name", STRAY_PEER]);
    const live = new Set([slots[0]!, slots[1]!]);
    expect(await nm.cleanupLeaks(live)).toBe(1);
    expect((await sh("ip", ["link", "show", stray])).code).not.toBe(0);
    expect((await sh("ip", ["link", "show", b.net!.hostInterface])).code).toBe(0);
    expect(await nm.cleanupLeaks(live)).toBe(0);
  });
});

/** The host's address on its default-route interface (never contacted, only used as a target from inside). */
async function primaryAddress(): Promise<string | undefined> {
  const routes = JSON.parse((await sh("ip", ["-j", "-4", "route", "show", "default"])).stdout || "[]") as Array<{
    dev?: string;
  }>;
  const dev = routes[0]?.dev;
  if (!dev) return undefined;
  const addrs = JSON.parse((await sh("ip", ["-j", "-4", "addr", "show", "dev", dev])).stdout || "[]") as Array<{
    addr_info: Array<{ local: string }>;
  }>;
  return addrs[0]?.addr_info[0]?.local;
}

/**
 * Spoofed packets dropped on this host, summed over every sbx table: another daemon's table on the
 * host (same veth group, same rule, same hook priority) may run first and drop the packet itself.
 */
async function spoofDrops(): Promise<number> {
  const out = JSON.parse(await must("nft", ["-j", "list", "counters"])) as {
    nftables: Array<{ counter?: { name: string; packets: number } }>;
  };
  const counters = out.nftables.filter((e) => e.counter?.name === SPOOF_COUNTER);
  if (counters.length === 0) throw new Error(`no ${SPOOF_COUNTER} counter on this host`);
  return counters.reduce((sum, e) => sum + e.counter!.packets, 0);
}

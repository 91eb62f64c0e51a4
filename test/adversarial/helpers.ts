// Shared by the adversarial tests: the attack tool (attack.c, built static on the host and copied
// into sandboxes), a fake "internet" namespace that counts what reaches it, and host lookups.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Sandbox } from "@sbx-sh/sdk";
import { staticBinary } from "./kit.js";
export { freePort } from "../harness.js";

export const SLOT = Number(process.env.SBX_TEST_SLOT ?? 0);
export const ATTACK = "/.attack";

export function must(args: string[]): string {
  const r = spawnSync(args[0]!, args.slice(1), { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${args.join(" ")}: ${r.stderr || r.error?.message}`);
  return r.stdout;
}

/** attack.c, compiled static on the host. */
export function buildAttackTool(): Buffer {
  return readFileSync(staticBinary(fileURLToPath(new URL("attack.c", import.meta.url))));
}

export async function installAttackTool(sb: Sandbox, tool: Buffer): Promise<void> {
  await sb.writeFile(ATTACK, tool);
  const r = await sb.run("chmod", { args: ["755", ATTACK] });
  if (r.exitCode !== 0) throw new Error(`chmod: ${r.stderr}`);
}

/** The host's address on its default-route interface. */
export function primaryAddress(): string {
  const dev = (JSON.parse(must(["ip", "-j", "-4", "route", "show", "default"])) as Array<{ dev: string }>)[0]?.dev;
  if (!dev) throw new Error("this host has no default route");
  return (
    JSON.parse(must(["ip", "-j", "-4", "addr", "show", "dev", dev])) as Array<{ addr_info: Array<{ local: string }> }>
  )[0]!.addr_info[0]!.local;
}

/** The host end of a sandbox's veth (found by its gateway address) and that end's MAC. */
export function hostVeth(gateway: string): { name: string; mac: string } {
  const links = JSON.parse(must(["ip", "-j", "-4", "addr"])) as Array<{
    ifname: string;
    addr_info: Array<{ local: string }>;
  }>;
  const name = links.find((l) => l.addr_info.some((a) => a.local === gateway))?.ifname;
  if (!name) throw new Error(`no host interface has ${gateway}`);
  const mac = (JSON.parse(must(["ip", "-j", "link", "show", "dev", name])) as Array<{ address: string }>)[0]!.address;
  return { name, mac };
}

/** The sandbox's own /30 gateway: the address just below its own. */
export function gatewayOf(ip: string): string {
  return ip.replace(/\.(\d+)$/, (_, n: string) => `.${Number(n) - 1}`);
}

/**
 * Spoofed packets dropped on this host, summed over every sbx table: another daemon's table (same
 * veth group, same rule, same hook priority) may run first and drop a packet itself. Other suites
 * only ever add to them.
 */
export function spoofDrops(): number {
  const out = JSON.parse(must(["nft", "-j", "list", "counters"])) as {
    nftables: Array<{ counter?: { name: string; packets: number } }>;
  };
  const counters = out.nftables.filter((e) => e.counter?.name === "sbx_spoofed");
  if (counters.length === 0) throw new Error("no sbx_spoofed counter on this host");
  return counters.reduce((sum, e) => sum + e.counter!.packets, 0);
}

const INET_JS = `const [port, tag] = process.argv.slice(1);
require("net").createServer((s) => s.end(tag + "\\n")).listen(+port, "0.0.0.0");
const u = require("dgram").createSocket("udp4");
u.on("message", (m, r) => console.log("udp " + m.toString().trim() + " from " + r.address));
u.bind(+port, "0.0.0.0", () => console.log("ready"));`;

/**
 * "The internet": a namespace behind its own veth answering TCP (with "inet") and logging every
 * UDP datagram, on a routed 198.19.x address and on a link-local one (a stand-in for a cloud
 * metadata service). 198.18.0.0/15 is the benchmarking range, routed nowhere else.
 */
export class FakeInternet {
  readonly n = 210 + SLOT;
  readonly link = `sbadv${SLOT}i`;
  readonly gw = `198.18.${this.n}.1`;
  readonly peer = `198.18.${this.n}.2`;
  readonly server = `198.19.${this.n}.10`;
  readonly linkLocal = `169.254.${this.n}.7`;
  readonly udpSeen: string[] = [];
  private kids: ChildProcess[] = [];

  constructor(readonly port: number) {}

  async start(): Promise<void> {
    spawnSync("ip", ["link", "del", this.link]);
    const holder = spawn("unshare", ["--net", "--", "sleep", "600"], { stdio: "ignore" });
    this.kids.push(holder);
    await new Promise((r) => setTimeout(r, 300));
    const ns = ["nsenter", "-t", String(holder.pid), "-n", "--"];
    must(["ip", "link", "add", this.link, "type", "veth", "peer", "name", "eth0", "netns", String(holder.pid)]);
    must(["ip", "addr", "add", `${this.gw}/30`, "dev", this.link]);
    must(["ip", "link", "set", this.link, "up"]);
    for (const cmd of [
      ["link", "set", "lo", "up"],
      ["addr", "add", `${this.peer}/30`, "dev", "eth0"],
      ["addr", "add", `${this.server}/32`, "dev", "lo"],
      ["addr", "add", `${this.linkLocal}/32`, "dev", "lo"],
      ["link", "set", "eth0", "up"],
    ])
      must([...ns, "ip", ...cmd]);
    for (const addr of [this.server, this.linkLocal]) must(["ip", "route", "add", `${addr}/32`, "via", this.peer]);
    const srv = spawn(ns[0]!, [...ns.slice(1), process.execPath, "-e", INET_JS, String(this.port), "inet"], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    this.kids.push(srv);
    let buf = "";
    await new Promise<void>((resolve) => {
      srv.stdout!.on("data", (d: Buffer) => {
        buf += d.toString();
        const lines = buf.split("\n");
        buf = lines.pop()!;
        for (const l of lines) {
          if (l === "ready") resolve();
          else this.udpSeen.push(l);
        }
      });
    });
  }

  stop(): void {
    for (const k of this.kids) k.kill("SIGKILL");
    spawnSync("ip", ["link", "del", this.link]);
  }
}

// Sandbox networking on the host: one veth pair per sandbox (host end named from its slot, /30
// addresses from the slot), the nftables policy table, ip_forward, and the sandboxes' resolv.conf.
// The only code that runs `ip`, `nsenter ip` and `nft` for networking.
import { readFile, readlink, writeFile } from "node:fs/promises";
import { runCommand, type CommandResult } from "../common/command.js";
import { SbxError } from "@sbx-sh/protocol";
import type { EgressPolicy } from "../domain/egress-policy.js";
import { intToIp, ipToInt } from "../domain/ipv4.js";
import { egressRemoval, egressRuleset, egressSlots } from "./egress-ruleset.js";
import { hostRuleset, SANDBOX_IFGROUP } from "./nft-ruleset.js";
import { resolversOf, sandboxResolvConf } from "./resolv.js";
import { detectUplinkMtu } from "./uplink-mtu.js";

export interface SandboxNetwork {
  slot: number;
  hostInterface: string;
  ipAddress: string;
  gateway: string;
}

export interface NetworkManagerOptions {
  /** IPv4 CIDR split into /30s, one per slot. Default 10.89.0.0/16 (16384 slots). */
  subnet?: string;
  /**
   * nftables table (family inet) owned by sbx. Default "sbx". Keep one name per host: the rules
   * are the same for every manager, but two tables each with a forward drop policy drop each
   * other's sandbox traffic.
   */
  tableName?: string;
  /** Host-side veth names are prefix + slot. Default "sbxh". */
  interfacePrefix?: string;
}

const DEFAULT_SUBNET = "10.89.0.0/16";
/** Name of the sandbox end, inside its own netns. */
const INNER_INTERFACE = "eth0";
/** Linux interface names are at most 15 bytes (IFNAMSIZ - 1). */
const IFNAMSIZ_MAX = 15;
const COMMAND_TIMEOUT_MS = 10_000;

export class NetworkManager {
  readonly subnet: string;
  readonly tableName: string;
  readonly interfacePrefix: string;
  /** Number of /30 slots in the subnet. */
  readonly capacity: number;
  private readonly base: number;
  private readonly namePattern: RegExp;
  /** MTU for veths, learnt by ensureHost() from the uplink; undefined = kernel default. */
  private mtu: number | undefined;
  private hostReady: Promise<void> | undefined;

  constructor(opts: NetworkManagerOptions = {}) {
    this.subnet = opts.subnet ?? DEFAULT_SUBNET;
    this.tableName = opts.tableName ?? "sbx";
    this.interfacePrefix = opts.interfacePrefix ?? "sbxh";
    const { base, prefixLength } = parseCidr(this.subnet);
    this.base = base;
    this.capacity = 2 ** (30 - prefixLength);
    if (!/^[a-z][a-z0-9_]{0,31}$/.test(this.tableName)) {
      throw new SbxError(
        "invalid_argument",
        `Invalid nftables table name "${this.tableName}": use lowercase letters, digits and _.`,
      );
    }
    // No digit at the end, so a name splits into prefix and slot one way only (sbx1+2 vs sbx+12).
    if (!/^[a-z](?:[a-z0-9-]*[a-z-])?$/.test(this.interfacePrefix)) {
      throw new SbxError(
        "invalid_argument",
        `Invalid interface prefix "${this.interfacePrefix}": use lowercase letters, digits and -, not ending in a digit.`,
      );
    }
    if (this.interfacePrefix.length + String(this.capacity - 1).length > IFNAMSIZ_MAX) {
      throw new SbxError(
        "invalid_argument",
        `Interface prefix "${this.interfacePrefix}" is too long for ${this.capacity} slots: names must fit in ${IFNAMSIZ_MAX} characters.`,
      );
    }
    this.namePattern = new RegExp(`^${this.interfacePrefix}(0|[1-9][0-9]*)$`);
  }

  /** Names and addresses of a slot; pure, so the daemon can rebuild them from its database. */
  networkFor(slot: number): SandboxNetwork {
    this.checkSlot(slot);
    const block = this.base + slot * 4;
    return {
      slot,
      hostInterface: `${this.interfacePrefix}${slot}`,
      gateway: intToIp(block + 1),
      ipAddress: intToIp(block + 2),
    };
  }

  /** Idempotent host setup: the policy table first (forward policy drop), then ip_forward=1. */
  async ensureHost(): Promise<void> {
    const res = await run("nft", ["-f", "-"], hostRuleset(this.tableName, this.subnet, this.resolvers()));
    if (res.code !== 0) throw failure(`Loading the nftables table inet ${this.tableName} failed`, res);
    // Only now: with forwarding on and no drop policy, the host would route for anyone.
    const forward = "/proc/sys/net/ipv4/ip_forward";
    // Written only when it changes, because each write resets every interface's IPv4 settings.
    if ((await readFile(forward, "utf8")).trim() !== "1") await writeFile(forward, "1\n");
    this.mtu = await detectUplinkMtu().catch(() => undefined);
    this.hostReady ??= Promise.resolve();
  }

  /**
   * The host side of a slot's network that needs no sandbox yet: the host's table, then the slot's
   * egress policy (none = open), replacing any stale one. A create runs it while the sandbox's
   * filesystem is being mounted (its slot already free), and then attaches with `policyLoaded`.
   */
  async loadPolicy(sandboxId: string, slot: number, egress?: EgressPolicy): Promise<void> {
    this.hostReady ??= this.ensureHost().catch((err: unknown) => {
      this.hostReady = undefined;
      throw err;
    });
    await this.hostReady;
    await this.setEgress(sandboxId, slot, egress);
  }

  /**
   * Gives the netns of `initPid` an eth0 with the slot's address and a default route via the host,
   * and brings its loopback up. `initPid` is any process in the sandbox's netns: its init, or the
   * holder of a netns made before the sandbox (./userns-owner.ts), which crun then joins.
   * The egress policy (none = open) is loaded before the link exists, replacing any stale one,
   * unless the caller did that already (`policyLoaded`, after loadPolicy of this slot).
   */
  async attach(
    sandboxId: string,
    slot: number,
    initPid: number,
    egress?: EgressPolicy,
    opts: { policyLoaded?: boolean } = {},
  ): Promise<SandboxNetwork> {
    const net = this.networkFor(slot);
    if (!Number.isInteger(initPid) || initPid <= 1) {
      throw new SbxError("invalid_argument", `Invalid init pid ${initPid} for sandbox ${sandboxId}.`);
    }
    await assertOwnNetns(sandboxId, initPid);
    // Never attach without the policy: without it a sandbox could reach the host.
    if (!opts.policyLoaded) await this.loadPolicy(sandboxId, slot, egress);
    // Same MTU as the uplink, so full-size packets are not dropped or fragmented on the way out.
    const mtuArgs = this.mtu ? ` mtu ${this.mtu}` : "";
    const hostBatch = [
      `link add ${net.hostInterface}${mtuArgs} type veth peer name ${INNER_INTERFACE}${mtuArgs} netns ${initPid}`,
      // The nft policy matches this group; set while the link is still down, so no packet escapes it.
      `link set ${net.hostInterface} group ${SANDBOX_IFGROUP}`,
      `addr add ${net.gateway}/30 dev ${net.hostInterface}`,
      `link set ${net.hostInterface} up`,
      "",
    ].join("\n");
    let res = await run("ip", ["-batch", "-"], hostBatch);
    if (res.code !== 0 && /File exists/.test(res.stderr)) {
      // The daemon owns slot allocation, so an existing interface of this slot is stale (e.g. a
      // dead sandbox's veth whose netns is still being torn down): replace it.
      await this.deleteLink(net.hostInterface);
      res = await run("ip", ["-batch", "-"], hostBatch);
    }
    if (res.code !== 0) {
      await this.deleteLink(net.hostInterface).catch(() => undefined);
      throw failure(`Creating the network of sandbox ${sandboxId} failed`, res, { sandboxId, slot });
    }
    const innerBatch = [
      `addr add ${net.ipAddress}/30 dev ${INNER_INTERFACE}`,
      `link set ${INNER_INTERFACE} up`,
      `route add default via ${net.gateway}`,
      // crun brings lo up only in a netns it makes itself, not in one it joins.
      "link set lo up",
      "",
    ].join("\n");
    const inner = await run("nsenter", ["-t", String(initPid), "-n", "ip", "-batch", "-"], innerBatch);
    if (inner.code !== 0) {
      await this.deleteLink(net.hostInterface).catch(() => undefined);
      throw failure(`Configuring the network inside sandbox ${sandboxId} failed`, inner, { sandboxId, slot });
    }
    return net;
  }

  /** Deletes the host end (the sandbox end goes with it), then its egress rules. Already gone is fine. */
  async detach(sandboxId: string, slot: number): Promise<void> {
    const { hostInterface } = this.networkFor(slot);
    await this.deleteLink(hostInterface, { sandboxId, slot });
    const res = await run("nft", ["-f", "-"], egressRemoval(this.tableName, hostInterface));
    // No table yet means no rules to remove.
    if (res.code !== 0 && !/No such file or directory/.test(res.stderr))
      throw failure(`Removing the egress policy of sandbox ${sandboxId} failed`, res, { sandboxId, slot });
  }

  /**
   * Replaces the egress policy of a slot (undefined or empty lists = open) in one nft transaction;
   * other sandboxes' rules are not touched. DNS to the sandboxes' resolvers stays allowed.
   */
  async setEgress(sandboxId: string, slot: number, policy: EgressPolicy | undefined): Promise<void> {
    const { hostInterface } = this.networkFor(slot);
    const script = egressRuleset(
      this.tableName,
      hostInterface,
      policy ?? { allowOut: [], denyOut: [] },
      this.resolvers(),
    );
    const res = await run("nft", ["-f", "-"], script);
    if (res.code !== 0)
      throw failure(`Loading the egress policy of sandbox ${sandboxId} failed`, res, { sandboxId, slot });
  }

  /** Host-side sandbox veths present now, by name. */
  async listAttached(): Promise<Array<{ hostInterface: string; slot: number }>> {
    const res = await run("ip", ["-j", "link", "show", "type", "veth"]);
    if (res.code !== 0) throw failure("Listing network interfaces failed", res);
    const links = JSON.parse(res.stdout.toString() || "[]") as Array<{ ifname?: string }>;
    const out: Array<{ hostInterface: string; slot: number }> = [];
    for (const { ifname } of links) {
      const m = ifname ? this.namePattern.exec(ifname) : null;
      if (!m || !ifname) continue;
      const slot = Number(m[1]);
      if (slot < this.capacity) out.push({ hostInterface: ifname, slot });
    }
    return out.sort((a, b) => a.slot - b.slot);
  }

  /** Deletes sandbox veths whose slot is not live (left by a crash), then such slots' egress rules; returns how many veths went. */
  async cleanupLeaks(liveSlots: Set<number>): Promise<number> {
    const removed = await this.cleanupVeths(liveSlots);
    const chains = await run("nft", ["-j", "list", "chains", "inet"]);
    const listed =
      chains.code === 0
        ? ((
            JSON.parse(chains.stdout.toString() || "{}") as {
              nftables?: Array<{ chain?: { table: string; name: string } }>;
            }
          ).nftables ?? [])
        : [];
    const names = listed.flatMap((e) => (e.chain?.table === this.tableName ? [e.chain.name] : []));
    const stale = egressSlots(names, this.interfacePrefix).filter((s) => s < this.capacity && !liveSlots.has(s));
    if (stale.length > 0) {
      const res = await run(
        "nft",
        ["-f", "-"],
        stale.map((s) => egressRemoval(this.tableName, this.networkFor(s).hostInterface)).join(""),
      );
      if (res.code !== 0) throw failure("Deleting leaked sandbox egress rules failed", res);
    }
    return removed;
  }

  private async cleanupVeths(liveSlots: Set<number>): Promise<number> {
    const stray = (await this.listAttached()).filter((l) => !liveSlots.has(l.slot));
    if (stray.length === 0) return 0;
    const batch = stray.map((l) => `link del ${l.hostInterface}`).join("\n") + "\n";
    // -force: keep going past links that vanished meanwhile (their netns died).
    const res = await run("ip", ["-force", "-batch", "-"], batch);
    const vanished = (res.stderr.match(/Cannot find device/g) ?? []).length;
    const otherErrors = res.stderr
      .split("\n")
      .filter((l) => /RTNETLINK|Error|Cannot/.test(l) && !/Cannot find device/.test(l));
    if (res.code !== 0 && otherErrors.length > 0)
      throw failure("Deleting leaked sandbox network interfaces failed", res);
    return stray.length - vanished;
  }

  /** resolv.conf for sandboxes (./resolv.ts owns the policy). */
  resolvConf(): string {
    return sandboxResolvConf();
  }

  /** The nameservers of resolvConf(): the only addresses sandboxes may send DNS to. */
  resolvers(): string[] {
    return resolversOf(this.resolvConf());
  }

  private checkSlot(slot: number): void {
    if (!Number.isInteger(slot) || slot < 0 || slot >= this.capacity) {
      throw new SbxError("out_of_range", `Network slot ${slot} is outside 0..${this.capacity - 1}.`);
    }
  }

  private async deleteLink(name: string, details: Record<string, unknown> = {}): Promise<void> {
    const res = await run("ip", ["link", "del", name]);
    if (res.code !== 0 && !/Cannot find device|does not exist/.test(res.stderr)) {
      throw failure(`Deleting network interface ${name} failed`, res, details);
    }
  }
}

interface RunResult extends CommandResult {
  argv: string[];
}

/** runCommand with stdin and a short time limit; never rejects for a non-zero exit. */
async function run(cmd: string, args: string[], input?: string): Promise<RunResult> {
  const res = await runCommand(
    cmd,
    args,
    input === undefined ? { timeoutMs: COMMAND_TIMEOUT_MS } : { input, timeoutMs: COMMAND_TIMEOUT_MS },
  );
  return { ...res, argv: [cmd, ...args] };
}

function failure(what: string, res: RunResult, details: Record<string, unknown> = {}): SbxError {
  const msg = res.stderr.trim() || `exit code ${res.code}`;
  return new SbxError("runtime_error", `${what}: ${msg}`, { ...details, command: res.argv.join(" ") });
}

/** Refuses a pid that shares the daemon's netns: `peer ... netns PID` would then rename host interfaces. */
async function assertOwnNetns(sandboxId: string, pid: number): Promise<void> {
  let theirs: string;
  try {
    theirs = await readlink(`/proc/${pid}/ns/net`);
  } catch {
    throw new SbxError(
      "sandbox_not_running",
      `Sandbox ${sandboxId} has no process ${pid}; it may have exited. Start it again.`,
    );
  }
  if (theirs === (await readlink("/proc/self/ns/net"))) {
    throw new SbxError(
      "failed_precondition",
      `Sandbox ${sandboxId} (pid ${pid}) shares the host network namespace; it needs its own to be attached.`,
    );
  }
}

function parseCidr(cidr: string): { base: number; prefixLength: number } {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/.exec(cidr);
  const prefixLength = m ? Number(m[2]) : NaN;
  const base = m?.[1] ? ipToInt(m[1]) : NaN;
  if (!m || Number.isNaN(base) || prefixLength < 8 || prefixLength > 30) {
    throw new SbxError(
      "invalid_argument",
      `Invalid sandbox subnet "${cidr}": use IPv4 CIDR like 10.89.0.0/16 (prefix /8 to /30).`,
    );
  }
  const hostBits = 2 ** (32 - prefixLength);
  if (base % hostBits !== 0) {
    throw new SbxError(
      "invalid_argument",
      `Sandbox subnet "${cidr}" has host bits set; use ${intToIp(base - (base % hostBits))}/${prefixLength}.`,
    );
  }
  return { base, prefixLength };
}

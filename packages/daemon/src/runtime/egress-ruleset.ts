// Per-sandbox egress policy (allowOut / denyOut) as nftables scripts: one regular chain per
// sandbox host veth, reached through the verdict map EGRESS_MAP of the shared `inet sbx` table.
// Each script is one atomic `nft -f -` transaction touching only that sandbox's chain and element.
import { EGRESS_MAP } from "./nft-ruleset.js";
import type { EgressPolicy } from "./types.js";

export type { EgressPolicy } from "./types.js";

/** True when the policy restricts nothing, so the sandbox needs no chain at all. */
export function isOpenPolicy(p: EgressPolicy | undefined): boolean {
  return !p || (p.allowOut.length === 0 && p.denyOut.length === 0);
}

/** Chain of a host veth. Interface prefixes never contain `_`, so mapping `-` to `_` is one-to-one. */
export function egressChain(hostInterface: string): string {
  if (!/^[a-z][a-z0-9-]{0,14}$/.test(hostInterface)) throw new Error(`invalid interface name ${hostInterface}`);
  return `sbx_eg_${hostInterface.replace(/-/g, "_")}`;
}

/**
 * Installs or replaces the policy of one sandbox: the chain is created if missing and flushed,
 * its rules added and the map element (re)pointed at it, all in one transaction. Rules `return`
 * for allowed traffic, so the shared forward rules (no host, no sandbox-to-sandbox) still apply.
 * An open policy removes the chain instead.
 */
export function egressRuleset(table: string, hostInterface: string, policy: EgressPolicy, resolvers: string[]): string {
  if (isOpenPolicy(policy)) return egressRemoval(table, hostInterface);
  const t = `inet ${table}`;
  const c = egressChain(hostInterface);
  const deny = compactCidrs(policy.denyOut);
  const allow = compactCidrs(policy.allowOut);
  const dns = compactCidrs(resolvers);
  const lines = [`add chain ${t} ${c}`, `flush chain ${t} ${c}`];
  if (deny.length > 0) lines.push(`add rule ${t} ${c} ip daddr { ${deny.join(", ")} } drop`);
  if (allow.length > 0) {
    if (dns.length > 0)
      lines.push(`add rule ${t} ${c} ip daddr { ${dns.join(", ")} } meta l4proto { tcp, udp } th dport 53 return`);
    lines.push(`add rule ${t} ${c} ip daddr { ${allow.join(", ")} } return`);
    lines.push(`add rule ${t} ${c} drop`);
  }
  lines.push(`add element ${t} ${EGRESS_MAP} { "${hostInterface}" : jump ${c} }`);
  return lines.join("\n") + "\n";
}

/**
 * Removes a sandbox's policy; succeeds whether or not it exists (the element and chain are added
 * first, so the deletes always find them, and the whole batch is one transaction).
 */
export function egressRemoval(table: string, hostInterface: string): string {
  const t = `inet ${table}`;
  const c = egressChain(hostInterface);
  return [
    `add chain ${t} ${c}`,
    `add element ${t} ${EGRESS_MAP} { "${hostInterface}" : jump ${c} }`,
    `delete element ${t} ${EGRESS_MAP} { "${hostInterface}" }`,
    `flush chain ${t} ${c}`,
    `delete chain ${t} ${c}`,
    "",
  ].join("\n");
}

/** Slots whose egress chain, among `chainNames` of the table, belongs to the interface prefix. */
export function egressSlots(chainNames: string[], interfacePrefix: string): number[] {
  const head = egressChain(interfacePrefix);
  return chainNames.flatMap((name) => {
    const rest = name.startsWith(head) ? name.slice(head.length) : "";
    return /^(0|[1-9]\d*)$/.test(rest) ? [Number(rest)] : [];
  });
}

/**
 * Normalizes IPv4 addresses / CIDRs (host bits cleared) and drops duplicates and blocks inside
 * other blocks: CIDR blocks either nest or are disjoint, so what is left never overlaps, which
 * nft's interval sets require.
 */
export function compactCidrs(entries: string[]): string[] {
  const blocks = entries.map(parseBlock).sort((a, b) => a.len - b.len || a.base - b.base);
  const kept: Array<{ base: number; len: number }> = [];
  for (const b of blocks) {
    if (kept.some((k) => k.len <= b.len && maskTo(b.base, k.len) === k.base)) continue;
    kept.push(b);
  }
  return kept
    .sort((a, b) => a.base - b.base || a.len - b.len)
    .map((b) => (b.len === 32 ? intToIp(b.base) : `${intToIp(b.base)}/${b.len}`));
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** True for a dotted-quad IPv4 address, optionally with /0../32. */
export function isIpv4OrCidr(entry: string): boolean {
  const [ip, len, extra] = entry.split("/");
  if (extra !== undefined || !ip || !IPV4.test(ip)) return false;
  return len === undefined || /^(3[0-2]|[12]?\d)$/.test(len);
}

/** `entry` with its host bits cleared, e.g. 10.1.2.3/8 → 10.0.0.0/8; /32 is written as the bare address. */
export function normalizeCidr(entry: string): string {
  const b = parseBlock(entry);
  return b.len === 32 ? intToIp(b.base) : `${intToIp(b.base)}/${b.len}`;
}

function parseBlock(entry: string): { base: number; len: number } {
  if (!isIpv4OrCidr(entry)) throw new Error(`not an IPv4 address or CIDR: ${entry}`);
  const [ip, len] = entry.split("/");
  const prefix = len === undefined ? 32 : Number(len);
  const n = ip!.split(".").reduce((acc, p) => acc * 256 + Number(p), 0);
  return { base: maskTo(n, prefix), len: prefix };
}

function maskTo(n: number, len: number): number {
  const size = 2 ** (32 - len);
  return n - (n % size);
}

function intToIp(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join(".");
}

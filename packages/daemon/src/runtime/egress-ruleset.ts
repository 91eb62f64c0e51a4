// Per-sandbox egress policy (allowOut / denyOut) as nftables scripts: one regular chain per
// sandbox host veth, reached through the verdict map EGRESS_MAP of the shared `inet sbx` table.
// Each script is one atomic `nft -f -` transaction touching only that sandbox's chain and element.
import { isOpenPolicy, type EgressPolicy } from "../domain/egress-policy.js";
import { compactCidrs } from "../domain/ipv4.js";
import { EGRESS_MAP } from "./nft-ruleset.js";

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

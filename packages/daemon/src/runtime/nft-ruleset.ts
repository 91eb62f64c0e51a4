// The nftables script that NetworkManager.ensureHost() loads: the host-side policy for sandbox
// veths (no host access, no sandbox-to-sandbox, NAT egress, anti-spoofing), in one table we own.

/**
 * Every sandbox host veth is put in this netdev group, and the rules match the group rather than
 * a name prefix or subnet. So the ruleset is the same for every NetworkManager (a daemon, test
 * suites with their own prefixes and subnets) and reloading it from one never unprotects another's
 * sandboxes. Only root in the host netns can change a device's group.
 */
export const SANDBOX_IFGROUP = 23387;

/** Chain names. `in`/`fwd` (and the hook names) are nft keywords, hence the prefix. */
export const CHAINS = {
  antispoof: "sbx_antispoof",
  forward: "sbx_forward",
  input: "sbx_input",
  nat: "sbx_postrouting",
} as const;

/** Named counter of packets dropped as spoofed; named objects keep their value across reloads. */
export const SPOOF_COUNTER = "sbx_spoofed";

/**
 * Set of every sandbox subnet loaded into the table. NAT has to match on source address: the
 * incoming device is unknown in postrouting. Each manager adds its subnet; auto-merge absorbs
 * overlaps, and a subnet stays until reboot (harmless: it only marks addresses to masquerade).
 */
export const SUBNET_SET = "sbx_subnets";

/**
 * Verdict map from a sandbox's host veth name to a jump into that sandbox's egress chain (see
 * egress-ruleset.ts). Only sandboxes with an egress policy have an element; the others miss the
 * map and fall through to the shared rules.
 */
export const EGRESS_MAP = "sbx_egress";

/**
 * The resolvers sandboxes are given (their resolv.conf): DNS (port 53) from a sandbox to any other
 * address is dropped, so a sandbox cannot use DNS to a server of its choosing (tunnels over DNS,
 * lookups the host's resolvers would refuse). Reloaded with the table: every manager on a host
 * reads the same resolv.conf.
 */
export const RESOLVER_SET = "sbx_resolvers";

/**
 * One nft transaction, safe to load again and again: `add` is a no-op for an existing table,
 * chain or counter, and each base chain is flushed before its rules are added, so a reload
 * replaces the rules instead of duplicating them and never leaves a moment without them (the
 * batch is atomic). Other chains or sets later put into the table are left alone.
 */
export function hostRuleset(table: string, subnet: string, resolvers: string[]): string {
  const t = `inet ${table}`;
  const dns = [...new Set(resolvers)];
  const g = SANDBOX_IFGROUP;
  const { antispoof, forward, input, nat } = CHAINS;
  return [
    `add table ${t}`,
    `add counter ${t} ${SPOOF_COUNTER}`,
    `add set ${t} ${SUBNET_SET} { type ipv4_addr; flags interval; auto-merge; }`,
    `add element ${t} ${SUBNET_SET} { ${subnet} }`,
    `add map ${t} ${EGRESS_MAP} { type ifname : verdict; }`,
    `add set ${t} ${RESOLVER_SET} { type ipv4_addr; }`,
    `flush set ${t} ${RESOLVER_SET}`,
    ...(dns.length > 0 ? [`add element ${t} ${RESOLVER_SET} { ${dns.join(", ")} }`] : []),
    // Drop policy is declared with the chain, so it exists before the caller enables ip_forward.
    `add chain ${t} ${forward} { type filter hook forward priority filter; policy drop; }`,
    `add chain ${t} ${input} { type filter hook input priority filter; policy accept; }`,
    `add chain ${t} ${antispoof} { type filter hook prerouting priority raw; policy accept; }`,
    `add chain ${t} ${nat} { type nat hook postrouting priority srcnat; policy accept; }`,
    `flush chain ${t} ${forward}`,
    `flush chain ${t} ${input}`,
    `flush chain ${t} ${antispoof}`,
    `flush chain ${t} ${nat}`,
    // A sandbox is root in its netns and may set any source address: strict reverse-path check,
    // so it can neither pose as another sandbox nor send spoofed packets out un-NATed.
    `add rule ${t} ${antispoof} iifgroup ${g} fib saddr . iif oif missing counter name "${SPOOF_COUNTER}" drop`,
    // Per-sandbox egress policy first, before established: a policy update also cuts connections
    // already open to a destination it no longer allows. Replies come in on the uplink, not here.
    `add rule ${t} ${forward} iifgroup ${g} iifname vmap @${EGRESS_MAP}`,
    // DNS only to the resolvers sbx chose, whatever the policy allowed (an empty set: no DNS at all).
    `add rule ${t} ${forward} iifgroup ${g} meta l4proto { tcp, udp } th dport 53 ip daddr != @${RESOLVER_SET} drop`,
    `add rule ${t} ${forward} ct state established,related accept`,
    `add rule ${t} ${forward} iifgroup ${g} oifgroup ${g} drop`,
    // Link-local addresses are the host's neighbourhood (cloud metadata at 169.254.169.254 hands
    // out credentials): never routed for a sandbox, whatever its policy.
    `add rule ${t} ${forward} iifgroup ${g} ip daddr 169.254.0.0/16 drop`,
    // Sandboxes get IPv4 only; anything else from them, and anything new towards them, hits the policy.
    `add rule ${t} ${forward} iifgroup ${g} meta nfproto ipv4 accept`,
    // The host itself (daemon API, sshd, ... on every host address, v4 and v6) is off limits.
    `add rule ${t} ${input} iifgroup ${g} ct state established,related accept`,
    `add rule ${t} ${input} iifgroup ${g} drop`,
    // Spoofed sources were dropped above, so a source in the set means a sandbox.
    `add rule ${t} ${nat} ip saddr @${SUBNET_SET} oifgroup != ${g} masquerade`,
    "",
  ].join("\n");
}

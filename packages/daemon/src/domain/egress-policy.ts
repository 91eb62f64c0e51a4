// What a sandbox may reach: the egress lists as given (CIDRs and host names), the addresses the
// names resolved to, and the policy the kernel enforces (addresses and CIDRs only). The runtime
// applies an EgressPolicy; the services keep the entries and hosts to re-resolve names later.

export interface EgressPolicy {
  /** IPv4 addresses / CIDRs; non-empty means only these (plus DNS to the resolvers) are reachable. */
  allowOut: string[];
  /** IPv4 addresses / CIDRs dropped even when allowed. */
  denyOut: string[];
}

export type EgressList = "allowOut" | "denyOut";

/** The lists as given: normalized CIDRs and lowercase host names. */
export type EgressEntries = Record<EgressList, string[]>;

/** Current IPv4 addresses of each host name in the entries. */
export type EgressHosts = Record<string, string[]>;

/** True when the policy restricts nothing, so the sandbox needs no chain at all. */
export function isOpenPolicy(p: EgressPolicy | undefined): boolean {
  return !p || (p.allowOut.length === 0 && p.denyOut.length === 0);
}

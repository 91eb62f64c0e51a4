// Egress policy input: validates allowOut / denyOut entries (IPv4 addresses, CIDRs, simple host
// names), resolves the names to IPv4 addresses on the host, and expands entries + the names'
// current addresses into the policy the kernel gets. Names are kept, so they can be re-resolved.
import { lookup } from "node:dns/promises";
import { SbxError } from "@sbx-sh/protocol";
import type { EgressEntries, EgressHosts, EgressList, EgressPolicy } from "../domain/egress-policy.js";
import { isIpv4OrCidr, normalizeCidr } from "../domain/ipv4.js";

/** A plain DNS name (labels of letters, digits and -), not an address, wildcard, URL or port. */
const HOST_NAME =
  /^(?=.{1,253}$)(?!\d+(\.\d+)*$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i;
/** More than this many entries per list is refused: each is a set element in the kernel. */
export const MAX_EGRESS_ENTRIES = 256;

export type Resolver = (name: string) => Promise<string[]>;
export type { EgressEntries, EgressHosts, EgressList };

export interface ResolvedEgress {
  entries: EgressEntries;
  hosts: EgressHosts;
  /** What the kernel enforces: the entries with every name replaced by its addresses. */
  policy: EgressPolicy;
}

export const hostResolver: Resolver = async (name) =>
  (await lookup(name, { all: true, family: 4 })).map((a) => a.address);

/** Validates and normalizes one list; throws invalid_argument naming the bad entry. */
export function parseEgressList(field: EgressList, entries: string[] | undefined): string[] {
  if (!entries) return [];
  if (entries.length > MAX_EGRESS_ENTRIES)
    throw new SbxError(
      "invalid_argument",
      `${field} has ${entries.length} entries; at most ${MAX_EGRESS_ENTRIES} are allowed`,
    );
  const out = entries.map((raw) => {
    const entry = raw.trim();
    if (isIpv4OrCidr(entry)) return normalizeCidr(entry);
    if (HOST_NAME.test(entry)) return entry.toLowerCase().replace(/\.$/, "");
    throw new SbxError(
      "invalid_argument",
      `${field} entry ${JSON.stringify(raw)} is not an IPv4 address or CIDR (like 203.0.113.7 or 10.0.0.0/8); IPv6, wildcards, URLs and ports are not supported yet`,
      { field, entry: raw },
    );
  });
  return [...new Set(out)];
}

export const isHostName = (entry: string): boolean => !isIpv4OrCidr(entry);

/** The IPv4 addresses of one name, or invalid_argument saying why there are none. */
export async function resolveName(
  field: EgressList,
  name: string,
  resolve: Resolver = hostResolver,
): Promise<string[]> {
  let addrs: string[];
  try {
    addrs = await resolve(name);
  } catch (err) {
    throw new SbxError(
      "invalid_argument",
      `${field} entry ${JSON.stringify(name)}: host name could not be resolved on the host (${(err as Error).message}); give IPv4 addresses or CIDRs instead`,
      { field, entry: name },
      { cause: err },
    );
  }
  const v4 = [...new Set(addrs.filter(isIpv4OrCidr).map(normalizeCidr))].sort();
  if (v4.length === 0)
    throw new SbxError("invalid_argument", `${field} entry ${JSON.stringify(name)}: host name has no IPv4 address`, {
      field,
      entry: name,
    });
  return v4;
}

/** Entries with names replaced by their addresses (a name without known addresses adds none). */
export function expandEgress(entries: EgressEntries, hosts: EgressHosts): EgressPolicy {
  const expand = (list: string[]) => [...new Set(list.flatMap((e) => (isHostName(e) ? (hosts[e] ?? []) : [e])))];
  return { allowOut: expand(entries.allowOut), denyOut: expand(entries.denyOut) };
}

/** Validates both lists and resolves their names now. */
export async function resolveEgress(
  req: { allowOut?: string[]; denyOut?: string[] },
  resolve: Resolver = hostResolver,
): Promise<ResolvedEgress> {
  const entries = {
    allowOut: parseEgressList("allowOut", req.allowOut),
    denyOut: parseEgressList("denyOut", req.denyOut),
  };
  const hosts: EgressHosts = {};
  for (const field of ["allowOut", "denyOut"] as const) {
    for (const name of entries[field].filter(isHostName)) hosts[name] ??= await resolveName(field, name, resolve);
  }
  return { entries, hosts, policy: expandEgress(entries, hosts) };
}

/** One list with its names resolved: the addresses and CIDRs the kernel gets. */
export async function resolveEgressList(
  field: EgressList,
  entries: string[] | undefined,
  resolve: Resolver = hostResolver,
): Promise<string[]> {
  const r = await resolveEgress({ [field]: entries }, resolve);
  return r.policy[field];
}

export async function resolveEgressPolicy(
  req: { allowOut?: string[]; denyOut?: string[] },
  resolve?: Resolver,
): Promise<EgressPolicy> {
  return (await resolveEgress(req, resolve)).policy;
}

/**
 * Re-resolves names; a name that fails now keeps its last addresses (a resolver hiccup must not
 * open or close a policy). Answers the new map and whether any name's addresses changed.
 */
export async function refreshHosts(
  hosts: EgressHosts,
  resolve: Resolver = hostResolver,
): Promise<{ hosts: EgressHosts; changed: boolean; failed: string[] }> {
  const next: EgressHosts = {};
  const failed: string[] = [];
  let changed = false;
  for (const [name, old] of Object.entries(hosts)) {
    const now = await resolveName("allowOut", name, resolve).catch(() => undefined);
    if (!now) failed.push(name);
    next[name] = now ?? old;
    if (now && now.join(",") !== [...old].sort().join(",")) changed = true;
  }
  return { hosts: next, changed, failed };
}

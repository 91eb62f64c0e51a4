// Egress policy input: validates allowOut / denyOut entries (IPv4 addresses and CIDRs) and turns
// simple host names into the IPv4 addresses they resolve to on the host, at create/update time.
import { lookup } from "node:dns/promises";
import { SbxError } from "../common/errors.js";
import { isIpv4OrCidr, normalizeCidr, type EgressPolicy } from "../runtime/egress-ruleset.js";

/** A plain DNS name (labels of letters, digits and -), not an address, wildcard, URL or port. */
const HOST_NAME = /^(?=.{1,253}$)(?!\d+(\.\d+)*$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i;
/** More than this many entries per list is refused: each is a set element in the kernel. */
export const MAX_EGRESS_ENTRIES = 256;

export type Resolver = (name: string) => Promise<string[]>;

const hostResolver: Resolver = async (name) => (await lookup(name, { all: true, family: 4 })).map((a) => a.address);

/** Normalized, de-duplicated entries of one list; host names become their IPv4 addresses. */
export async function resolveEgressList(field: "allowOut" | "denyOut", entries: string[] | undefined, resolve: Resolver = hostResolver): Promise<string[]> {
  if (!entries) return [];
  if (entries.length > MAX_EGRESS_ENTRIES) throw new SbxError("invalid_argument", `${field} has ${entries.length} entries; at most ${MAX_EGRESS_ENTRIES} are allowed`);
  const out: string[] = [];
  for (const raw of entries) {
    const entry = raw.trim();
    if (isIpv4OrCidr(entry)) {
      out.push(normalizeCidr(entry));
      continue;
    }
    if (!HOST_NAME.test(entry)) {
      throw new SbxError("invalid_argument", `${field} entry ${JSON.stringify(raw)} is not an IPv4 address or CIDR (like 203.0.113.7 or 10.0.0.0/8); IPv6, wildcards, URLs and ports are not supported yet`, { field, entry: raw });
    }
    let addrs: string[];
    try {
      addrs = await resolve(entry);
    } catch (err) {
      throw new SbxError("invalid_argument", `${field} entry ${JSON.stringify(raw)}: host name could not be resolved on the host (${(err as Error).message}); give IPv4 addresses or CIDRs instead`, { field, entry: raw });
    }
    if (addrs.length === 0) throw new SbxError("invalid_argument", `${field} entry ${JSON.stringify(raw)}: host name has no IPv4 address`, { field, entry: raw });
    out.push(...addrs.filter(isIpv4OrCidr).map(normalizeCidr));
  }
  return [...new Set(out)];
}

export async function resolveEgressPolicy(req: { allowOut?: string[]; denyOut?: string[] }, resolve?: Resolver): Promise<EgressPolicy> {
  return { allowOut: await resolveEgressList("allowOut", req.allowOut, resolve), denyOut: await resolveEgressList("denyOut", req.denyOut, resolve) };
}

// IPv4 addresses and CIDR blocks as numbers: parsing, printing, masking, and the normal form of
// an egress entry. The one owner of this arithmetic: the sandbox subnet (runtime/network.ts), the
// nft egress sets (runtime/egress-ruleset.ts) and the egress input checks (services/egress.ts).

/** A dotted quad, each part 0..255 without leading zeros. */
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** An IPv4 block: `base` with its host bits cleared, `len` the prefix length (32 for one address). */
export interface Ipv4Block {
  base: number;
  len: number;
}

/** The address as a number, or NaN unless it is four parts of 0..255 (leading zeros allowed). */
export function ipToInt(ip: string): number {
  const parts = ip.split(".").map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) return NaN;
  return parts.reduce((acc, p) => acc * 256 + p, 0);
}

export function intToIp(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join(".");
}

/** `n` with the host bits of a /len cleared. Plain arithmetic: JS bit operators are signed 32-bit. */
export function maskTo(n: number, len: number): number {
  const size = 2 ** (32 - len);
  return n - (n % size);
}

/** True for a dotted-quad IPv4 address, optionally with /0../32. */
export function isIpv4OrCidr(entry: string): boolean {
  const [ip, len, extra] = entry.split("/");
  if (extra !== undefined || !ip || !IPV4.test(ip)) return false;
  return len === undefined || /^(3[0-2]|[12]?\d)$/.test(len);
}

/** The block of an address or CIDR (host bits cleared); throws unless isIpv4OrCidr(entry). */
export function parseBlock(entry: string): Ipv4Block {
  if (!isIpv4OrCidr(entry)) throw new Error(`not an IPv4 address or CIDR: ${entry}`);
  const [ip, len] = entry.split("/");
  const prefix = len === undefined ? 32 : Number(len);
  return { base: maskTo(ipToInt(ip!), prefix), len: prefix };
}

/** A block written back: /32 as the bare address. */
export function formatBlock(b: Ipv4Block): string {
  return b.len === 32 ? intToIp(b.base) : `${intToIp(b.base)}/${b.len}`;
}

/** `entry` with its host bits cleared, e.g. 10.1.2.3/8 → 10.0.0.0/8; /32 is written as the bare address. */
export function normalizeCidr(entry: string): string {
  return formatBlock(parseBlock(entry));
}

/**
 * Normalizes IPv4 addresses / CIDRs (host bits cleared) and drops duplicates and blocks inside
 * other blocks: CIDR blocks either nest or are disjoint, so what is left never overlaps, which
 * nft's interval sets require.
 */
export function compactCidrs(entries: string[]): string[] {
  const blocks = entries.map(parseBlock).sort((a, b) => a.len - b.len || a.base - b.base);
  const kept: Ipv4Block[] = [];
  for (const b of blocks) {
    if (kept.some((k) => k.len <= b.len && maskTo(b.base, k.len) === k.base)) continue;
    kept.push(b);
  }
  return kept.sort((a, b) => a.base - b.base || a.len - b.len).map(formatBlock);
}

// Which hosts the daemon itself may connect to on a tenant's behalf (registry pulls and pushes,
// `FROM host:port/...`, bearer-token realms, redirects): not loopback, link-local (cloud metadata),
// private or shared ranges, nor the host's own addresses, unless the operator allows them. Names are
// resolved and every address checked, so a public name that points inside is refused too.
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { networkInterfaces } from "node:os";
import { SbxError } from "@sbx-sh/protocol";

export interface OutboundPolicy {
  /** Loopback registries (127.0.0.0/8, ::1, localhost) for local use (`--outbound-allow loopback`). */
  allowLoopback: boolean;
  /** `host` or `host:port` entries the operator allows whatever they resolve to. */
  allow: string[];
}

export const DEFAULT_OUTBOUND: OutboundPolicy = { allowLoopback: false, allow: [] };

/** The policy of sbxd's `--outbound-allow` value: comma-separated host[:port], `loopback` for loopback. */
export function parseOutboundAllow(value: string): OutboundPolicy {
  const items = value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  return { allowLoopback: items.includes("loopback"), allow: items.filter((s) => s !== "loopback") };
}

/** At most this many redirects are followed, each checked like the first request. */
export const MAX_REDIRECTS = 5;

function v4(a: string): number[] | undefined {
  const p = a.split(".").map(Number);
  return p.length === 4 && p.every((n) => Number.isInteger(n) && n >= 0 && n <= 255) ? p : undefined;
}

/** Why an address may not be reached from the daemon, or undefined if it may. */
export function forbiddenRange(address: string): "loopback" | string | undefined {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  const a = mapped ? mapped[1]! : address;
  const p = v4(a);
  if (p) {
    const [x, y] = [p[0]!, p[1]!];
    if (x === 127) return "loopback";
    if (x === 0) return "unspecified";
    if (x === 10 || (x === 172 && y >= 16 && y <= 31) || (x === 192 && y === 168)) return "private";
    if (x === 169 && y === 254) return "link-local";
    if (x === 100 && y >= 64 && y <= 127) return "shared (CGNAT)";
    if (x === 198 && (y === 18 || y === 19)) return "benchmarking";
    if (x >= 224) return "multicast or reserved";
    return undefined;
  }
  const l = a.toLowerCase();
  if (l === "::1") return "loopback";
  if (l === "::") return "unspecified";
  if (/^fe[89ab]/.test(l)) return "link-local";
  if (/^f[cd]/.test(l)) return "private";
  if (/^ff/.test(l)) return "multicast";
  return undefined;
}

function ownAddresses(): Set<string> {
  const out = new Set<string>();
  for (const list of Object.values(networkInterfaces())) for (const i of list ?? []) out.add(i.address.toLowerCase());
  return out;
}

/** Resolves a name to every address it has (the system resolver unless a test injects one). */
export type Resolver = (host: string) => Promise<string[]>;

export const systemResolver: Resolver = (host) =>
  lookup(host, { all: true, verbatim: true }).then((r) => r.map((x) => x.address));

/** Whether the operator lists this URL's host (or host:port): then it is reached whatever it resolves to. */
export function allowListed(url: URL, policy: OutboundPolicy): boolean {
  const host = url.hostname.replace(/^\[|\]$/g, "").toLowerCase();
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  return policy.allow.some((a) => a.toLowerCase() === host || a.toLowerCase() === `${host}:${port}`);
}

/** The permission_denied error for the first of `addresses` the daemon may not reach, if any. */
export function refuseAddresses(
  host: string,
  port: string | undefined,
  addresses: string[],
  policy: OutboundPolicy,
  what: string,
): SbxError | undefined {
  const own = ownAddresses();
  for (const address of addresses) {
    const range = forbiddenRange(address);
    if (range === "loopback" && policy.allowLoopback) continue;
    const why = range ?? (own.has(address.toLowerCase()) ? "this host's own" : undefined);
    if (why)
      return new SbxError(
        "permission_denied",
        `${what}: ${host} resolves to ${address}, a ${why} address the daemon does not connect to for a client; ` +
          `an operator can allow it (sbxd --outbound-allow ${range === "loopback" ? "loopback" : port ? `${host}:${port}` : host})`,
      );
  }
  return undefined;
}

/**
 * Refuses (failed_precondition) a URL the daemon must not fetch for a tenant. `what` names the
 * request in the error; the error never carries anything the far side answered. This check gives a
 * clear error before any connection; the connection itself goes through `outboundDispatcher`
 * (./outbound-dispatcher.ts), which checks the addresses it connects to again (DNS rebinding).
 */
export async function checkOutbound(
  url: URL,
  policy: OutboundPolicy,
  what: string,
  resolve: Resolver = systemResolver,
): Promise<void> {
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw new SbxError("invalid_argument", `${what}: only http and https URLs are fetched, not ${url.protocol}`);
  const host = url.hostname.replace(/^\[|\]$/g, "").toLowerCase();
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  if (allowListed(url, policy)) return;
  const addresses = isIP(host)
    ? [host]
    : await resolve(host).then(
        (r) => r,
        () => {
          throw new SbxError("failed_precondition", `${what}: cannot resolve ${host}`);
        },
      );
  const refusal = refuseAddresses(host, port, addresses, policy, what);
  if (refusal) throw refusal;
}

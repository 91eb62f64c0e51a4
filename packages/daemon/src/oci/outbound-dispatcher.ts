// The connections behind the daemon's outbound requests (registry pulls and pushes, their redirects
// and token realms): an undici dispatcher whose DNS lookup resolves the name once, checks every
// address against the outbound policy and hands the socket exactly the addresses it checked. A
// check that resolved the name separately from the connection (DNS rebinding: public for the
// check, internal for the connect) would let a name that flips its answer reach inside.
import type { LookupFunction } from "node:net";
import { isIP } from "node:net";
import { rootCertificates } from "node:tls";
import { Agent, type Dispatcher } from "undici";
import { refuseAddresses, systemResolver, type OutboundPolicy, type Resolver } from "./outbound.js";

type LookupCallback = (
  err: Error | null,
  address: string | Array<{ address: string; family: number }>,
  family?: number,
) => void;

/** A `lookup` for net/tls.connect that only ever yields addresses the policy lets the daemon reach. */
export function checkedLookup(
  policy: OutboundPolicy,
  what: string,
  resolve: Resolver = systemResolver,
): LookupFunction {
  const lookup = (hostname: string, options: { all?: boolean; family?: number | string }, callback: LookupCallback) => {
    const family = options.family === "IPv4" ? 4 : options.family === "IPv6" ? 6 : Number(options.family ?? 0);
    resolve(hostname).then(
      (all) => {
        const addresses = all.filter((a) => isIP(a) !== 0 && (family === 0 || isIP(a) === family));
        const refusal = refuseAddresses(hostname, undefined, addresses, policy, what);
        if (refusal) return callback(refusal, "");
        if (addresses.length === 0)
          return callback(Object.assign(new Error(`${hostname} has no address`), { code: "ENOTFOUND" }), "");
        if (options.all)
          return callback(
            null,
            addresses.map((address) => ({ address, family: isIP(address) })),
          );
        callback(null, addresses[0]!, isIP(addresses[0]!));
      },
      (err: Error) => callback(err, ""),
    );
  };
  return lookup as unknown as LookupFunction;
}

const shared = new WeakMap<OutboundPolicy, Dispatcher>();

/**
 * The dispatcher (fetch's `dispatcher`) for the daemon's requests under `policy`: one per policy,
 * its connection pool shared, unless a test injects a resolver. Hosts the operator allow-listed
 * are reached whatever they resolve to: callers send those without it (`allowListed`).
 */
export function outboundAgent(policy: OutboundPolicy, resolve?: Resolver): Dispatcher {
  const what = "outbound connection";
  if (resolve) return new Agent({ connect: { lookup: checkedLookup(policy, what, resolve) } });
  let agent = shared.get(policy);
  if (!agent) {
    agent = new Agent({ connect: { lookup: checkedLookup(policy, what) } });
    shared.set(policy, agent);
  }
  return agent;
}

/** The dispatchers of one policy whose TLS also trusts a private CA, and that CA. */
const withCa = new WeakMap<OutboundPolicy, { ca: string; listed: Agent; checked: Agent }>();

/**
 * The dispatchers for a registry whose certificate is signed by a private CA (the cluster
 * registry's --registry-ca): `listed` for allow-listed hosts, `checked` for the rest (redirects,
 * token realms), both trusting the system's roots and `ca`. One pair per policy, remade (and the
 * old pair closed) when the CA changes, so a rotated CA file takes effect without a restart.
 */
export function caAgents(policy: OutboundPolicy, ca: string): { listed: Dispatcher; checked: Dispatcher } {
  const had = withCa.get(policy);
  if (had?.ca === ca) return had;
  const trust = [...rootCertificates, ca];
  const made = {
    ca,
    listed: new Agent({ connect: { ca: trust } }),
    checked: new Agent({ connect: { ca: trust, lookup: checkedLookup(policy, "outbound connection") } }),
  };
  withCa.set(policy, made);
  if (had) for (const a of [had.listed, had.checked]) void a.close().catch(() => undefined);
  return made;
}

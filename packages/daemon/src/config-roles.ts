// What each daemon role needs and does: the one owner of "does this role run sandboxes here" and of
// the checks that refuse a role's impossible flags before the daemon starts (sbxd exits with the reason).
import type { DaemonConfig, DaemonRole } from "./config.js";

/**
 * Whether a role runs sandboxes on this host. The one place that decides it: a control replica does
 * not, so it sets up, sweeps and reconciles no host networking, cgroups, mounts or crun state (daemon.ts).
 */
export function runsSandboxes(role: DaemonRole): boolean {
  return role !== "control";
}

/** Blank sandboxes kept warm when --warm-pool (SBX_WARM_POOL) is not given, where sandboxes run. */
export const DEFAULT_WARM_POOL = 2;

/** The warm pool this daemon keeps: none on a role that runs no sandboxes. */
export function warmPoolOf(cfg: DaemonConfig): number {
  return runsSandboxes(cfg.role) ? (cfg.warmPool ?? DEFAULT_WARM_POOL) : 0;
}

/** What a role needs besides itself, checked before the daemon starts; the reason, or null. */
export function roleProblem(cfg: DaemonConfig): string | null {
  if (cfg.role === "control" && cfg.store === null)
    return "--role control keeps the cluster in PostgreSQL: give --store postgres://… (SBX_STORE)";
  if (cfg.role === "node") {
    if (!cfg.control || !/^https?:\/\/[^/]+/.test(cfg.control))
      return "--role node needs --control http(s)://host:port of the control plane (SBX_CONTROL)";
    if (!cfg.nodeToken) return "--role node needs the node's credential from `sbx node add` in SBX_NODE_TOKEN";
    if (!cfg.listenTcp)
      return "--role node needs --listen-tcp HOST:PORT: the control plane forwards sandbox calls there";
    if (cfg.store !== null)
      return "--role node keeps its sandboxes in its own SQLite store (network slots, uid ranges are per node): drop --store";
  }
  if (cfg.registry && cfg.role === "single")
    return "--registry is cluster content (roles control and node); for images use `sbx image push/pull`";
  if (cfg.registry?.includes("@"))
    return "--registry takes host[:port] only: the registry's credentials go in a file named by --registry-auth-file";
  if (cfg.registry && !/^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9a-fA-F:]+\](:\d{1,5})?$/.test(cfg.registry))
    return `--registry takes host[:port] of an OCI registry, got ${JSON.stringify(cfg.registry)}`;
  if ((cfg.registryCa || cfg.registryAuthFile) && !cfg.registry)
    return "--registry-ca and --registry-auth-file are for the cluster registry: give --registry host:port too";
  if (cfg.role === "control" && (cfg.clusterSecret ?? "").length < 32)
    return "--role control needs SBX_CLUSTER_SECRET (32+ characters, the same on every control replica)";
  // Said, not silently ignored: an operator who sized a pool on a control replica expects fast creates from it.
  if (cfg.role === "control" && cfg.warmPool)
    return "--warm-pool (SBX_WARM_POOL) is for hosts that run sandboxes: a control replica runs none (its nodes keep the warm pools); drop it or give 0";
  if (cfg.role !== "control" && cfg.nodeCa) return "--node-ca is for --role control: it verifies the nodes it calls";
  return null;
}

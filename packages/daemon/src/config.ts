// sbxd's settings: defaults, overridden by environment variables, overridden by flags. Tests run a
// second daemon beside a user's by giving it its own socket, dirs and network names.
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { USAGE } from "./config-usage.js";
import type { RuntimeName } from "./runtime/runtime.js";
import {
  type DaemonRole,
  parseCgroupParent,
  parseNftTable,
  parseCacheMb,
  parseBounded,
  parseCount,
  parseUidBase,
  parseSeconds,
  parseRetention,
  parseRuntime,
  parseStore,
  parseRole,
  offOr,
} from "./config-values.js";

export interface DaemonConfig {
  socket: string;
  listenTcp: string | null;
  /** PEM certificate and key that make the TCP listener HTTPS (both or neither). */
  tlsCert: string | null;
  tlsKey: string | null;
  /** How long terminated sandboxes stay listed (`ls -a`, info) before they are pruned, in seconds. */
  retentionSecs: number;
  dataDir: string;
  runDir: string;
  cacheDir: string;
  defaultImage: string;
  uidBase: number;
  uidCount: number;
  initPath: string;
  busyboxPath: string;
  /** sbx-agent, every sandbox's PID 1 and process server (SBX_AGENT; `off`: catatonit and crun exec). */
  agentPath: string | null;
  /** sbx-deflate, the gzip of OCI layer exports (SBX_DEFLATE; `off`, or not built: zlib in the daemon). */
  deflatePath: string | null;
  /**
   * Hosts the daemon may fetch from for clients although they resolve inside (loopback, private,
   * link-local, its own): comma-separated `host` or `host:port`; `loopback` allows loopback
   * registries (local use and tests). SBX_OUTBOUND_ALLOW / --outbound-allow; default none.
   */
  outboundAllow: string;
  /** The sbx-idmap helper (compiled by setup-host.sh) that mounts layers into each sandbox's uid range. */
  idmapHelper: string;
  subnet: string;
  interfacePrefix: string;
  /** cgroup under which every sandbox's cgroup is made (`<parent>/<id>`; SBX_CGROUP_PARENT; default sbx). */
  cgroupParent?: string;
  /** nftables table (family inet) of the sandbox policy (SBX_NFT_TABLE; default sbx). */
  nftTable?: string;
  logLevel: string;
  /** A file the log also goes to (appended), besides stdout; null: stdout only (SBX_LOG_FILE). */
  logFile?: string | null;
  /**
   * Blank sandboxes of the default image kept ready for fast creates (0: none); null: not given, the
   * role's default (2 where sandboxes run, none on a control replica: config-roles.ts).
   */
  warmPool: number | null;
  /** HOST:PORT of the HTTP proxy for exposed ports (port 0: any free one), or null (`off`): none. */
  proxyListen: string | null;
  /** Exposed ports are served at <port>-<sandboxId>.<proxyDomain>. */
  proxyDomain: string;
  /** Seconds between re-resolutions of host names in egress policies. */
  egressRefreshSecs: number;
  /** Debian archive for base images instead of the host's apt mirror (SBX_DEBIAN_MIRROR), or null. */
  debianMirror: string | null;
  /** Ubuntu archive for base images instead of archive.ubuntu.com (SBX_UBUNTU_MIRROR), or null. */
  ubuntuMirror: string | null;
  /** What isolates sandboxes (runtime/runtime.ts RUNTIME_NAMES). */
  runtime: RuntimeName;
  /** postgres://… to keep metadata in PostgreSQL, or null: SQLite in the data dir (the default). */
  store: string | null;
  /** single (one host, the default), control (cluster control plane) or node (registers with one). */
  role: DaemonRole;
  /** A node's control plane, http(s)://host:port (role node). */
  control: string | null;
  /** A node's credential from `sbx node add` (role node; SBX_NODE_TOKEN keeps it out of `ps`). */
  nodeToken: string | null;
  /** How long a node's lease lasts without a heartbeat (role control). */
  nodeLeaseSecs: number;
  /** How long a lost node may stay away before its sandboxes are given up (role control; cluster/given-up.ts). */
  nodeGiveUpSecs?: number;
  /** The control plane's: each node's key is derived from it (cluster/node-key.ts; SBX_CLUSTER_SECRET). */
  clusterSecret?: string | null;
  /** Role control: PEM CA file nodes' TLS certificates must verify against; given, nodes are called over TLS (--node-ca). */
  nodeCa?: string | null;
  /**
   * Cluster content (roles control and node): host:port of the OCI registry snapshots go to before
   * they are reported committed, and nodes pull from (SBX_REGISTRY / --registry; default none).
   */
  registry?: string | null;
  /** PEM file of the CA the cluster registry's certificate is signed by: always https then (SBX_REGISTRY_CA). */
  registryCa?: string | null;
  /** File with the cluster registry's `user:password` or bearer token, re-read when it changes (SBX_REGISTRY_AUTH_FILE). */
  registryAuthFile?: string | null;
  /** A node's cache of content pulled from the registry, in MB; least recently used goes first (SBX_CONTENT_CACHE_MB). */
  contentCacheMb?: number;
  /** The `sandbox_url` the Tensorlake-compatible routes advertise, or null: the host each request came to. */
  tensorlakeSandboxUrl: string | null;
  /** HOST:PORT of a plain listener serving only GET /metrics (no auth: keep it on loopback), or null. */
  metricsListen: string | null;
  /** PEM files of CAs added to every sandbox's and build's trust store (--ca-cert, repeatable; SBX_CA_CERTS, colon-separated). */
  caCerts?: string[];
  /** Ended processes each sandbox keeps listed with their exit codes (SBX_PROCESS_HISTORY; services/process-retention.ts). */
  processHistory?: number;
  /** Size of each sandbox's output log tmpfs, in MB (SBX_SANDBOX_LOGS_MB). */
  sandboxLogsMb?: number;
  /** Seconds a file read may make no progress before it is stopped and its slot freed (SBX_READ_IDLE_SECS). */
  readIdleSecs?: number;
  /** Serve the web dashboard on the TCP listener (`--ui`). */
  ui: boolean;
}

export { DAEMON_ROLES, type DaemonRole } from "./config-values.js";

export function defaultConfig(env: NodeJS.ProcessEnv = process.env): DaemonConfig {
  const runDir = env.SBX_RUN_DIR ?? "/run/sbx";
  return {
    socket: env.SBX_SOCKET ?? join(runDir, "sbxd.sock"),
    listenTcp: env.SBX_LISTEN_TCP ?? null,
    tlsCert: env.SBX_TLS_CERT ?? null,
    tlsKey: env.SBX_TLS_KEY ?? null,
    retentionSecs: parseRetention("SBX_RETENTION_SECS", env.SBX_RETENTION_SECS ?? "86400"),
    dataDir: env.SBX_DATA_DIR ?? "/var/lib/sbx",
    runDir,
    cacheDir: env.SBX_CACHE_DIR ?? "/var/cache/sbx",
    defaultImage: env.SBX_DEFAULT_IMAGE ?? "debian-minimal",
    uidBase: parseUidBase("SBX_UID_BASE", env.SBX_UID_BASE ?? "100000"),
    uidCount: 65536,
    initPath: env.SBX_INIT ?? "/usr/bin/catatonit",
    busyboxPath: env.SBX_BUSYBOX ?? "/bin/busybox",
    agentPath: offOr(env.SBX_AGENT ?? fileURLToPath(new URL("../agent/bin/sbx-agent", import.meta.url))),
    deflatePath: offOr(env.SBX_DEFLATE ?? fileURLToPath(new URL("../deflate/bin/sbx-deflate", import.meta.url))),
    outboundAllow: env.SBX_OUTBOUND_ALLOW ?? "",
    idmapHelper: env.SBX_IDMAP_HELPER ?? "/usr/local/libexec/sbx/sbx-idmap",
    subnet: env.SBX_SUBNET ?? "10.89.0.0/16",
    interfacePrefix: env.SBX_IF_PREFIX ?? "sbxh",
    cgroupParent: parseCgroupParent("SBX_CGROUP_PARENT", env.SBX_CGROUP_PARENT ?? "sbx"),
    nftTable: parseNftTable("SBX_NFT_TABLE", env.SBX_NFT_TABLE ?? "sbx"),
    logLevel: env.SBX_LOG_LEVEL ?? "info",
    logFile: env.SBX_LOG_FILE ?? null,
    // Through the flags' own checks: SBX_EGRESS_REFRESH_SECS=0 must not become a busy loop.
    warmPool: env.SBX_WARM_POOL === undefined ? null : parseCount("SBX_WARM_POOL", env.SBX_WARM_POOL),
    proxyListen: offOr(env.SBX_PROXY_LISTEN ?? "127.0.0.1:7071"),
    proxyDomain: env.SBX_PROXY_DOMAIN ?? "localhost",
    egressRefreshSecs: parseSeconds("SBX_EGRESS_REFRESH_SECS", env.SBX_EGRESS_REFRESH_SECS ?? "60"),
    debianMirror: env.SBX_DEBIAN_MIRROR ?? null,
    ubuntuMirror: env.SBX_UBUNTU_MIRROR ?? null,
    runtime: parseRuntime("SBX_RUNTIME", env.SBX_RUNTIME ?? "crun"),
    store: parseStore("SBX_STORE", env.SBX_STORE ?? "sqlite"),
    role: parseRole("SBX_ROLE", env.SBX_ROLE ?? "single"),
    control: env.SBX_CONTROL ?? null,
    nodeToken: env.SBX_NODE_TOKEN ?? null,
    nodeLeaseSecs: parseSeconds("SBX_NODE_LEASE_SECS", env.SBX_NODE_LEASE_SECS ?? "15"),
    nodeGiveUpSecs: parseSeconds("SBX_NODE_GIVE_UP_SECS", env.SBX_NODE_GIVE_UP_SECS ?? "300"),
    clusterSecret: env.SBX_CLUSTER_SECRET ?? null,
    registry: env.SBX_REGISTRY ?? null,
    registryCa: env.SBX_REGISTRY_CA ?? null,
    registryAuthFile: env.SBX_REGISTRY_AUTH_FILE ?? null,
    contentCacheMb: parseCacheMb(env.SBX_CONTENT_CACHE_MB ?? "10240"),
    nodeCa: env.SBX_NODE_CA ?? null,
    tensorlakeSandboxUrl: env.SBX_TENSORLAKE_SANDBOX_URL ?? null,
    metricsListen: offOr(env.SBX_METRICS_LISTEN ?? "off"),
    caCerts: (env.SBX_CA_CERTS ?? "").split(":").filter(Boolean),
    ui: env.SBX_UI === "1" || env.SBX_UI === "true",
    processHistory: parseBounded("SBX_PROCESS_HISTORY", env.SBX_PROCESS_HISTORY ?? "1000", 1, 1_000_000),
    sandboxLogsMb: parseBounded("SBX_SANDBOX_LOGS_MB", env.SBX_SANDBOX_LOGS_MB ?? "64", 1, 65536),
    readIdleSecs: parseSeconds("SBX_READ_IDLE_SECS", env.SBX_READ_IDLE_SECS ?? "30"),
  };
}

/**
 * The environment the daemon was started with, for the host tools it runs (PATH, proxy settings):
 * they inherit it as a shell's children would. Read here like every other setting.
 */
export function hostEnv(): NodeJS.ProcessEnv {
  return process.env;
}

const FLAGS: Record<string, keyof DaemonConfig> = {
  "--socket": "socket",
  "--listen-tcp": "listenTcp",
  "--tls-cert": "tlsCert",
  "--tls-key": "tlsKey",
  "--retention": "retentionSecs",
  "--data-dir": "dataDir",
  "--run-dir": "runDir",
  "--cache-dir": "cacheDir",
  "--default-image": "defaultImage",
  "--subnet": "subnet",
  "--if-prefix": "interfacePrefix",
  "--cgroup-parent": "cgroupParent",
  "--nft-table": "nftTable",
  "--log-level": "logLevel",
  "--log-file": "logFile",
  "--warm-pool": "warmPool",
  "--proxy-listen": "proxyListen",
  "--proxy-domain": "proxyDomain",
  "--egress-refresh": "egressRefreshSecs",
  "--runtime": "runtime",
  "--store": "store",
  "--role": "role",
  "--control": "control",
  "--node-token": "nodeToken",
  "--node-lease": "nodeLeaseSecs",
  "--node-give-up": "nodeGiveUpSecs",
  "--node-ca": "nodeCa",
  "--tensorlake-sandbox-url": "tensorlakeSandboxUrl",
  "--metrics-listen": "metricsListen",
  "--outbound-allow": "outboundAllow",
  "--registry": "registry",
  "--registry-ca": "registryCa",
  "--registry-auth-file": "registryAuthFile",
  "--process-history": "processHistory",
  "--sandbox-logs-mb": "sandboxLogsMb",
  "--read-idle": "readIdleSecs",
};

export { USAGE };

export function parseFlags(argv: string[], base: DaemonConfig): DaemonConfig {
  const cfg: DaemonConfig = { ...base };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.includes("=")
      ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)]
      : [arg, undefined];
    if (flag === "--ui") {
      cfg.ui = true;
      continue;
    }
    if (flag === "--ca-cert") {
      const file = inline ?? argv[++i];
      if (!file) throw new Error(`option --ca-cert needs a value\n\n${USAGE}`);
      cfg.caCerts = [...(cfg.caCerts ?? []), file];
      continue;
    }
    const key = FLAGS[flag];
    if (!key) throw new Error(`unknown option ${arg}\n\n${USAGE}`);
    const value = inline ?? argv[++i];
    if (value === undefined) throw new Error(`option ${flag} needs a value\n\n${USAGE}`);
    const parsed =
      key === "warmPool"
        ? parseCount(flag, value)
        : key === "egressRefreshSecs"
          ? parseSeconds(flag, value)
          : key === "proxyListen" || key === "metricsListen"
            ? offOr(value)
            : key === "runtime"
              ? parseRuntime(flag, value)
              : key === "store"
                ? parseStore(flag, value)
                : key === "role"
                  ? parseRole(flag, value)
                  : key === "nodeLeaseSecs" || key === "nodeGiveUpSecs" || key === "readIdleSecs"
                    ? parseSeconds(flag, value)
                    : key === "retentionSecs"
                      ? parseRetention(flag, value)
                      : key === "cgroupParent"
                        ? parseCgroupParent(flag, value)
                        : key === "nftTable"
                          ? parseNftTable(flag, value)
                          : key === "processHistory"
                            ? parseBounded(flag, value, 1, 1_000_000)
                            : key === "sandboxLogsMb"
                              ? parseBounded(flag, value, 1, 65536)
                              : value;
    (cfg as unknown as Record<string, string | number | null>)[key] = parsed;
  }
  return cfg;
}

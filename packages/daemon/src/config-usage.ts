// sbxd --help: every flag with its environment variable and default. Kept beside config.ts, whose
// parser names it in every error about a flag.
import { RUNTIME_NAMES } from "./runtime/runtime.js";

export const USAGE = `usage: sbxd [options]
       sbxd doctor [--json] [--data-dir DIR]   check that this host can run sandboxes

The sbx daemon: runs sandboxes on this host and serves the sbx API.

options (environment variable in brackets):
  --socket PATH        unix socket to serve on (SBX_SOCKET; default /run/sbx/sbxd.sock)
  --listen-tcp H:P     also serve on TCP, bearer tokens required (SBX_LISTEN_TCP)
  --tls-cert FILE      PEM certificate: serve TCP as HTTPS (with --tls-key; SBX_TLS_CERT); on a
                       cluster node the port proxy too (the control plane verifies both: --node-ca)
  --tls-key FILE       PEM private key of --tls-cert (SBX_TLS_KEY)
  --retention S        seconds terminated sandboxes stay listed before they are pruned
                       (SBX_RETENTION_SECS; default 86400; 0 prunes at once)
  --data-dir DIR       metadata, layers and sandboxes (SBX_DATA_DIR; default /var/lib/sbx)
  --run-dir DIR        pid file and crun state (SBX_RUN_DIR; default /run/sbx)
  --cache-dir DIR      base image cache (SBX_CACHE_DIR; default /var/cache/sbx)
  --subnet CIDR        sandbox addresses (SBX_SUBNET; default 10.89.0.0/16)
  --if-prefix NAME     host veth name prefix (SBX_IF_PREFIX; default sbxh)
  --cgroup-parent P    cgroup every sandbox's cgroup is made under, as P/<id> in each hierarchy
                       (SBX_CGROUP_PARENT; default sbx)
  --nft-table NAME     nftables table (inet) of the sandboxes' network policy (SBX_NFT_TABLE;
                       default sbx); one per network namespace the daemon runs in
  --log-level LEVEL    pino level (SBX_LOG_LEVEL; default info)
  --log-file PATH      also append the log to this file, e.g. under systemd, whose journal
                       gets stdout (SBX_LOG_FILE)
  --warm-pool N        blank sandboxes of the default image kept ready for fast creates, N with a network
                       and N without (SBX_WARM_POOL; default 2, 0 disables; not on --role control)
  --proxy-listen H:P   HTTP proxy for exposed ports (\`sbx port expose\`), reached as
                       http://<port>-<sandboxId>.<domain>:P/ (SBX_PROXY_LISTEN; default
                       127.0.0.1:7071; port 0 picks a free one; off disables)
  --proxy-domain NAME  domain of exposed-port host names (SBX_PROXY_DOMAIN; default localhost,
                       which browsers and curl send to 127.0.0.1 by themselves)
  --egress-refresh S   seconds between re-resolving host names in allowOut/denyOut
                       (SBX_EGRESS_REFRESH_SECS; default 60)
  --outbound-allow L   hosts the daemon may pull from / push to although they are loopback, private,
                       link-local or its own: comma-separated host[:port], \`loopback\` for local
                       registries (SBX_OUTBOUND_ALLOW; default none)
  --runtime NAME       what isolates sandboxes: ${RUNTIME_NAMES.join(", ")} (SBX_RUNTIME; default crun)
  --store URL          where metadata lives: sqlite (a file in the data dir) or a PostgreSQL URL
                       postgres://user:password@host:5432/db (SBX_STORE; default sqlite)
  --role ROLE          single (one host), control (cluster control plane: needs --store
                       postgres://…) or node (registers with --control) (SBX_ROLE; default single);
                       see docs/cluster.md for what the cluster does today
  --control URL        role node: the control plane, http://host:port (SBX_CONTROL)
  --node-token T       role node: the credential from \`sbx node add\` (SBX_NODE_TOKEN, preferred:
                       flags show in ps)
  --node-lease S       role control: seconds a node stays ready without a heartbeat
                       (SBX_NODE_LEASE_SECS; default 15)
  --node-give-up S     role control: seconds a lost node may stay away before its sandboxes are
                       given up (destroyed when it comes back) (SBX_NODE_GIVE_UP_SECS; default 300)
  --registry H:P       roles control and node: the OCI registry cluster content (snapshots, suspends)
                       is pushed to before it is reported committed, and nodes pull from; plain HTTP
                       on loopback without --registry-ca, https otherwise (SBX_REGISTRY; default none). SBX_CONTENT_CACHE_MB bounds
                       what a node keeps of pulled content (default 10240)
  --registry-ca FILE   roles control and node: PEM CA the cluster registry's certificate is signed by;
                       given, the registry is always reached over https, loopback too (SBX_REGISTRY_CA)
  --registry-auth-file FILE
                       roles control and node: a file (mode 0600) holding the cluster registry's
                       credentials on one line, user:password or a bearer token; re-read when it
                       changes (SBX_REGISTRY_AUTH_FILE). Never the credentials themselves on the
                       command line
  --node-ca FILE       role control: call nodes over TLS (they serve --tls-cert/--tls-key) and
                       refuse any whose certificate does not verify against this PEM CA (SBX_NODE_CA)
  SBX_CLUSTER_SECRET   role control: the secret (32+ characters, the same on every control replica)
                       each node's own key is derived from; nodes never hold it (environment only)
  --tensorlake-sandbox-url URL
                       the sandbox_url the Tensorlake-compatible routes (TCP listener) advertise, e.g.
                       https://sandbox.example.com (SBX_TENSORLAKE_SANDBOX_URL; default: the scheme and
                       host each request came to)
  --metrics-listen H:P Prometheus metrics at http://H:P/metrics, without auth: keep it on loopback or
                       a private network (SBX_METRICS_LISTEN; default off). The unix socket always
                       serves GET /metrics.
  --ca-cert FILE       PEM CA certificate(s) every sandbox and build trusts besides its image's own, e.g.
                       a TLS-inspecting proxy's CA; repeatable (SBX_CA_CERTS, colon-separated). Appended
                       to the image's trust store (/etc/ssl/certs/ca-certificates.crt, …) by a read-only
                       mount; images without a trust store are left as they are
  --process-history N  ended processes each sandbox keeps listed (\`sbx ps\`) with their exit codes and,
                       while they fit, their output; older ones are forgotten (SBX_PROCESS_HISTORY;
                       default 1000). Each holds a 4 KiB exit file in the sandbox's log space
  --sandbox-logs-mb N  each sandbox's process output space (a tmpfs); over half full, the oldest ended
                       processes' output is dropped until three quarters are free (SBX_SANDBOX_LOGS_MB;
                       default 64)
  --read-idle S        seconds a file read may make no progress (its client stopped reading, or the
                       file gives no bytes) before it is stopped and its slot freed (SBX_READ_IDLE_SECS;
                       default 30)
  --ui                 serve the web dashboard on the --listen-tcp listener (SBX_UI=1; default off)

example:
  sbxd --socket /run/sbx/sbxd.sock --listen-tcp 127.0.0.1:7070
  sbxd --listen-tcp 0.0.0.0:7443 --tls-cert /etc/sbx/tls.crt --tls-key /etc/sbx/tls.key`;

// Exposed ports: which sandbox ports the daemon's HTTP proxy routes to (by host name
// `<port>-<sandboxId>.<domain>`), with a per-exposure token unless public; and where the proxy and
// the TCP tunnel endpoint connect to. Exposures are stored, and go when their sandbox is terminated.
import { checkPort, SbxError } from "@sbx-sh/protocol";
import type { Logger } from "../common/log.js";
import { MAX_EXPOSED_PORTS } from "../domain/limits.js";
import type { PortExposureRecord, SandboxRecord } from "../domain/records.js";
import type { Store } from "../store/store.js";
import type { SandboxEvents } from "./sandbox-events.js";
import type { SandboxService } from "./sandbox-service.js";
import { PortTokens } from "./port-tokens.js";

/** A sandbox already has as many exposed ports as it may (domain/limits.ts). */
export function tooManyPorts(sandboxId: string): SbxError {
  return new SbxError(
    "out_of_range",
    `sandbox ${sandboxId} may have at most ${MAX_EXPOSED_PORTS} exposed ports: close one first (sbx port close)`,
  );
}

/** Where the port proxy listens, once it does: api/ builds the URLs of exposed ports from it. */
export interface ProxyAddress {
  domain: string;
  port: number;
}

/** What the proxy should do with a request, decided from its Host and token; refusals say why as an SbxError. */
export type ProxyDecision =
  { ok: true; target: { host: string; port: number }; exposure: PortExposureRecord } | { ok: false; error: SbxError };

/** An open connection to a sandbox port (proxied or tunnelled), cut when access to it ends. */
interface Closable {
  destroy(): void;
  once(event: "close", fn: () => void): unknown;
}

export class PortService {
  /** Open connections by `<sandboxId>:<port>` (proxy) or `<sandboxId>:tunnel`. */
  private readonly open = new Map<string, Set<Closable>>();

  constructor(
    private readonly store: Store,
    private readonly sandboxes: SandboxService,
    events: SandboxEvents,
    /** The domain exposed ports are served under, or null when the daemon runs no proxy (nothing can be exposed). */
    private readonly proxyDomain: string | null,
    private readonly log: Logger,
    private readonly tokens: PortTokens = new PortTokens(),
  ) {
    // A suspended sandbox's address is gone too: open connections would hang, not fail. Its
    // exposures stay for the resume; a terminated one's go.
    events.onGone((s) => this.cutSandbox(s.id));
    events.on("ended", async (s) => {
      if (await this.store.deletePortExposure(s.id)) this.log.info({ sandbox: s.id }, "port exposures removed");
    });
  }

  async expose(
    project: string,
    idOrName: string,
    port: number,
    opts: { public?: boolean } = {},
  ): Promise<PortExposureRecord> {
    checkPort(port);
    const s = await this.sandboxes.get(project, idOrName);
    if (s.status === "terminated")
      throw new SbxError("sandbox_not_running", `sandbox ${s.id} is terminated: its ports cannot be exposed`);
    if (!s.allowInternetAccess)
      throw new SbxError(
        "failed_precondition",
        `sandbox ${s.id} has no network (allowInternetAccess false), so the proxy cannot reach its ports: create it with network access`,
      );
    this.requireProxy();
    // Read and replaced in one transaction: two exposes of one port at once end with one token.
    const { old, record } = await this.store.transaction(async (tx) => {
      const old = await tx.getPortExposure(s.id, port);
      if (!old && (await tx.listPortExposures(s.id)).length >= MAX_EXPOSED_PORTS) throw tooManyPorts(s.id);
      const record: PortExposureRecord = {
        sandboxId: s.id,
        project: s.project,
        port,
        public: opts.public ?? old?.public ?? false,
        token: "",
        ...(old?.nonce && old.tokenHash ? { nonce: old.nonce, tokenHash: old.tokenHash } : this.tokens.mint()),
        createdAt: old?.createdAt ?? new Date().toISOString(),
      };
      await tx.putPortExposure(this.tokens.sealed(record));
      return { old, record: this.tokens.opened(record) };
    });
    // Connections let in without a token must not outlive the public access.
    if (old?.public && !record.public) this.cut(`${s.id}:${port}`);
    this.log.info({ sandbox: s.id, port, public: record.public }, "port exposed");
    return record;
  }

  async list(project: string, idOrName: string): Promise<PortExposureRecord[]> {
    const s = await this.sandboxes.get(project, idOrName);
    return (await this.store.listPortExposures(s.id)).map((e) => this.tokens.opened(e));
  }

  async close(project: string, idOrName: string, port: number): Promise<PortExposureRecord> {
    checkPort(port);
    const s = await this.sandboxes.get(project, idOrName);
    const e = await this.store.transaction(async (tx) => {
      const e = await tx.getPortExposure(s.id, port);
      return e && (await tx.deletePortExposure(s.id, port)) ? this.tokens.opened(e) : undefined;
    });
    if (!e)
      throw new SbxError(
        "not_found",
        `port ${port} of sandbox ${s.id} is not exposed: see \`sbx port ls ${s.name ?? s.id}\``,
      );
    this.cut(`${s.id}:${port}`);
    this.log.info({ sandbox: s.id, port }, "port closed");
    return e;
  }

  /** Registers an open connection: through the proxy to an exposed port, or a tunnel (port null). */
  track(sandboxId: string, port: number | null, conn: Closable): void {
    const key = `${sandboxId}:${port ?? "tunnel"}`;
    const set = this.open.get(key) ?? new Set<Closable>();
    this.open.set(key, set);
    set.add(conn);
    conn.once("close", () => {
      set.delete(conn);
      if (set.size === 0 && this.open.get(key) === set) this.open.delete(key);
    });
  }

  private cutSandbox(id: string): void {
    for (const key of this.open.keys()) if (key.startsWith(`${id}:`)) this.cut(key);
  }

  private cut(key: string): void {
    const set = this.open.get(key);
    this.open.delete(key);
    for (const conn of set ?? []) conn.destroy();
  }

  /**
   * Daemon start: exposures whose sandbox is gone or terminated (a crash in between) are dropped;
   * tokens an older daemon stored in clear are replaced by new ones, stored hashed.
   */
  async prune(): Promise<number> {
    let n = 0;
    for (const e of await this.store.listPortExposures()) {
      if (!e.tokenHash) {
        await this.store.putPortExposure(this.tokens.sealed({ ...e, ...this.tokens.mint() }));
        this.log.info({ sandbox: e.sandboxId, port: e.port }, "port token replaced (it was stored in clear)");
      }
      if ((await this.store.getSandbox(e.sandboxId))?.status !== "terminated") continue;
      await this.store.deletePortExposure(e.sandboxId);
      n++;
    }
    return n;
  }

  /** Address of a running sandbox's port, for the tunnel endpoint (API auth already done). */
  async target(
    project: string,
    idOrName: string,
    port: number,
  ): Promise<{ host: string; port: number; sandbox: SandboxRecord }> {
    checkPort(port);
    const s = await this.sandboxes.getRunning(project, idOrName);
    if (!s.ipAddress)
      throw new SbxError(
        "failed_precondition",
        `sandbox ${s.id} has no network (allowInternetAccess false), so its ports cannot be reached from outside`,
      );
    return { host: s.ipAddress, port, sandbox: s };
  }

  /**
   * The proxy's routing and access check. `host` is the request's Host header; `token` what it
   * carried (header, query or cookie), if anything.
   */
  async decide(host: string | undefined, token: string | undefined): Promise<ProxyDecision> {
    const domain = this.proxyDomain ?? "localhost";
    const m = /^(\d{1,5})-([a-z0-9-]{1,128})\.(.+?)\.?(?::\d+)?$/.exec((host ?? "").toLowerCase());
    if (!m || m[3] !== domain)
      return deny(
        "not_found",
        `no sandbox port is served at ${JSON.stringify(host ?? "")}: exposed ports are at <port>-<sandboxId>.${domain}`,
      );
    const port = Number(m[1]);
    const e = await this.store.getPortExposure(m[2]!, port);
    if (!e)
      return deny(
        "not_found",
        `port ${port} of sandbox ${m[2]} is not exposed: run \`sbx port expose ${m[2]} ${port}\``,
      );
    if (!e.public) {
      if (!token)
        return deny(
          "unauthenticated",
          `port ${port} of sandbox ${e.sandboxId} is private: send the token from \`sbx port ls\` as the X-Sbx-Token header or once as ?sbx_token=<token>`,
        );
      if (!this.tokens.matches(token, e))
        return deny("permission_denied", `wrong token for port ${port} of sandbox ${e.sandboxId}`);
    }
    const s = await this.store.getSandbox(e.sandboxId);
    if (!s || s.status !== "running" || !s.ipAddress) {
      return deny(
        "sandbox_not_running",
        `sandbox ${e.sandboxId} is ${s?.status ?? "gone"}${s?.status === "suspended" ? ": resume it to reach its ports" : ""}`,
      );
    }
    return { ok: true, target: { host: s.ipAddress, port }, exposure: this.tokens.opened(e) };
  }

  private requireProxy(): void {
    if (this.proxyDomain === null)
      throw new SbxError("failed_precondition", "this daemon runs no port proxy (started with --proxy-listen off)");
  }
}

function deny(
  code: "not_found" | "unauthenticated" | "permission_denied" | "sandbox_not_running",
  message: string,
): ProxyDecision {
  return { ok: false, error: new SbxError(code, message) };
}

// The cluster registry as this daemon reaches it (roles control and node): its address
// (--registry host:port), the CA its TLS certificate is signed by (--registry-ca: then always
// https, loopback too) and the credentials it asks for (--registry-auth-file: `user:password`, or a
// bearer token). Both files are read at start (a missing or malformed one stops the daemon, saying
// which and why) and again whenever they change, so a rotated Kubernetes Secret or a renewed CA
// takes effect on the next push or pull without a restart. The credentials live only in private
// fields: the object logs, prints and serializes as its address, and no error quotes a file's text.
import { X509Certificate } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { inspect } from "node:util";
import { SbxError } from "@sbx-sh/protocol";
import type { Logger } from "../common/log.js";
import { forbiddenRange, type OutboundPolicy } from "../oci/outbound.js";
import { RegistryClient, type RegistryAuth } from "../oci/registry-client.js";
import { parseRegistryRef } from "../oci/registry-ref.js";
import { CONTENT_REPOSITORY, registryTrouble } from "./content-registry.js";

export interface RegistryAccessOptions {
  /** host:port of the registry (already checked by config-roles.ts's roleProblem). */
  registry: string;
  /** PEM file of the CA the registry's certificate is signed by (--registry-ca). */
  caFile?: string | null;
  /** File holding `user:password` or a bearer token on one line (--registry-auth-file). */
  authFile?: string | null;
}

/** What an auth file says: `user:password` (basic, or a token service's login), else a bearer token. */
export function parseRegistryAuth(text: string): RegistryAuth {
  // Only line ends are dropped: a password may begin or end with spaces.
  const line = text.replace(/[\r\n]+$/, "");
  if (line === "" || /[\r\n]/.test(line))
    throw new Error("must hold one line: user:password, or a bearer token (no colon)");
  if (line.length > 8192) throw new Error("is longer than 8 KiB");
  const control = (ch: string): boolean => (ch < " " && ch !== "\t") || ch === "\x7f";
  if ([...line].some(control)) throw new Error("holds control characters");
  const colon = line.indexOf(":");
  if (colon < 0) return { token: line };
  if (colon === 0) throw new Error("names no user before the colon (user:password)");
  if (colon === line.length - 1) throw new Error("has an empty password (user:password)");
  return { username: line.slice(0, colon), password: line.slice(colon + 1) };
}

/** A PEM CA bundle's text, checked to hold at least one certificate that parses. */
export function parseRegistryCa(text: string): string {
  if (!text.includes("-----BEGIN CERTIFICATE-----")) throw new Error("holds no PEM certificate");
  try {
    new X509Certificate(text);
  } catch (err) {
    throw new Error(`holds a certificate that does not parse (${(err as Error).message})`, { cause: err });
  }
  return text;
}

/** Whether `hostPort` (host[:port], IPv6 in brackets) names this machine's loopback. */
function isLoopbackHost(hostPort: string): boolean {
  const host = hostPort
    .replace(/:\d+$/, "")
    .replace(/^\[|\]$/g, "")
    .toLowerCase();
  return host === "localhost" || forbiddenRange(host) === "loopback";
}

/** A file's parsed value, kept until the file changes (size, mtime or inode: a Secret's symlink swap). */
class WatchedFile<T> {
  private seen: { key: string; value: T } | undefined;

  constructor(
    readonly flag: string,
    readonly path: string,
    private readonly parse: (text: string) => T,
    private readonly log?: Logger,
  ) {}

  async value(): Promise<T> {
    const st = await stat(this.path).catch((err: NodeJS.ErrnoException) => {
      throw new SbxError(
        "failed_precondition",
        `${this.flag} ${this.path} cannot be read (${err.code ?? err.message})`,
      );
    });
    const key = `${st.size}:${st.mtimeMs}:${st.ino}`;
    if (this.seen?.key === key) return this.seen.value;
    const text = await readFile(this.path, "utf8").catch((err: NodeJS.ErrnoException) => {
      throw new SbxError(
        "failed_precondition",
        `${this.flag} ${this.path} cannot be read (${err.code ?? err.message})`,
      );
    });
    let value: T;
    try {
      value = this.parse(text);
    } catch (err) {
      throw new SbxError("failed_precondition", `${this.flag} ${this.path} ${(err as Error).message}`);
    }
    if (this.seen) this.log?.info({ file: this.path }, `${this.flag} changed: the cluster registry uses the new one`);
    if (this.flag === "--registry-auth-file" && (st.mode & 0o077) !== 0)
      this.log?.warn({ file: this.path }, "--registry-auth-file is readable by other users: make it mode 0600 or 0400");
    this.seen = { key, value };
    return value;
  }
}

export class ClusterRegistry {
  readonly address: string;
  readonly #ca: WatchedFile<string> | undefined;
  readonly #auth: WatchedFile<RegistryAuth> | undefined;
  /** One policy object for the daemon's life: its TLS dispatchers are kept per policy. */
  readonly #policy: OutboundPolicy;

  private constructor(o: RegistryAccessOptions, log?: Logger) {
    this.address = o.registry;
    this.#ca = o.caFile ? new WatchedFile("--registry-ca", o.caFile, parseRegistryCa, log) : undefined;
    this.#auth = o.authFile ? new WatchedFile("--registry-auth-file", o.authFile, parseRegistryAuth, log) : undefined;
    // Exactly the operator's host:port (a redirect or upload location elsewhere is checked like any
    // outbound call); loopback is reachable only when the registry itself is there.
    this.#policy = { allowLoopback: isLoopbackHost(o.registry), allow: [o.registry] };
  }

  /** The registry with its files read and checked: a problem is an Error naming the flag and file. */
  static async open(o: RegistryAccessOptions, log?: Logger): Promise<ClusterRegistry> {
    const r = new ClusterRegistry(o, log);
    await r.#ca?.value();
    await r.#auth?.value();
    return r;
  }

  /** Whether a CA was given: the registry is then always reached over TLS. */
  get tls(): boolean {
    return this.#ca !== undefined;
  }

  /** Whether credentials were given. */
  get authenticated(): boolean {
    return this.#auth !== undefined;
  }

  /** A client for the cluster's content repository, by tag or by digest, with the current CA and credentials. */
  async client(tag: string | null, digest: string | null = null): Promise<RegistryClient> {
    const ref = parseRegistryRef(`${this.address}/${CONTENT_REPOSITORY}`);
    const ca = await this.#ca?.value();
    const auth = (await this.#auth?.value()) ?? {};
    return new RegistryClient({ ...ref, tag, digest }, auth, this.#policy, undefined, ca ? { ca } : {});
  }

  /** Checks that the registry answers its API root with these credentials (`GET /v2/`). */
  async probe(): Promise<void> {
    const client = await this.client(null);
    const res = await client.request("GET", "/v2/");
    await res.body?.cancel();
    if (!res.ok) throw new SbxError("upstream_unreachable", `GET /v2/ answered HTTP ${res.status}`);
  }

  toString(): string {
    return this.address;
  }

  toJSON(): string {
    return this.address;
  }

  [inspect.custom](): string {
    return `ClusterRegistry(${this.address})`;
  }
}

/**
 * The cluster registry of a control plane or node started with --registry (undefined without), its
 * files read and checked; then asked once, in the background, whether it answers with these
 * credentials, so an operator sees a wrong password or CA in the log at start, not at the first
 * snapshot. That check never stops the daemon: the registry may come up later.
 */
export async function openClusterRegistry(
  cfg: { role: string; registry?: string | null; registryCa?: string | null; registryAuthFile?: string | null },
  log: Logger,
): Promise<ClusterRegistry | undefined> {
  if (!cfg.registry || cfg.role === "single") return undefined;
  const r = await ClusterRegistry.open(
    { registry: cfg.registry, caFile: cfg.registryCa ?? null, authFile: cfg.registryAuthFile ?? null },
    log,
  );
  const about = { registry: r.address, tls: r.tls, credentials: r.authenticated };
  void r.probe().then(
    () => log.info(about, "cluster registry answers"),
    (err: unknown) =>
      log.warn({ ...about, why: registryTrouble(r.address, err).message }, "cluster registry does not answer"),
  );
  return r;
}

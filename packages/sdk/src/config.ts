// Where the SDK finds sbxd and what it sends by default: explicit options, then SBX_* environment
// variables, then the current context of the user's config file (`sbx context use`), then
// defaults. The only place the SDK reads its environment (and that file).
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { SbxError } from "@sbx-sh/protocol";

export const DEFAULT_HOST = "unix:///run/sbx/sbxd.sock";
export const DEFAULT_PROJECT = "default";

export interface ClientOptions {
  /** `unix:///path/to/sbxd.sock` or `http://host:port`; env `SBX_HOST`. */
  host?: string;
  /** Bearer token for TCP hosts; env `SBX_TOKEN`. */
  token?: string;
  /**
   * Project sent as `X-Sbx-Project`; env `SBX_PROJECT`. Sent only when named (here, in the env or
   * the context); over TCP the token decides, and naming another project (default too) is refused.
   */
  project?: string;
  /** CA certificate(s) to verify an https:// host with: PEM text or a PEM file's path; env `SBX_CA_CERT`. */
  ca?: string;
  /** A context of the config file to use instead of its current one; env `SBX_CONTEXT`. */
  context?: string;
  /** Environment to read `SBX_*` from; defaults to `process.env`. */
  env?: Record<string, string | undefined>;
}

export interface ResolvedConfig {
  /** The host as given, normalised (`unix:///...` or `http(s)://...`). */
  host: string;
  socketPath: string | null;
  baseUrl: string;
  token: string | null;
  /** The project named, else `default` (what a unix socket uses then; over TCP, the token's). */
  project: string;
  /** True when a project was named (option, SBX_PROJECT or the context): only then is it sent. */
  projectNamed: boolean;
  /** True when nothing chose a host, so a CLI may start a local daemon on that socket. */
  isDefaultHost: boolean;
  /** PEM text of the CA(s) an https:// host is verified with, or null for the system's. */
  ca: string | null;
  /** The config-file context in use, or null. */
  context: string | null;
}

/** One named daemon connection of the config file: `sbx context add NAME --host ... --token ...`. */
export interface ContextEntry {
  host?: string;
  token?: string;
  project?: string;
  /** Path of a PEM file with the CA(s) that sign the host's certificate. */
  ca?: string;
}

/** The config file (JSON, mode 0600): contexts and the current one. */
export interface ConfigFile {
  current?: string;
  contexts: Record<string, ContextEntry>;
}

/** `$SBX_CONFIG`, else `$XDG_CONFIG_HOME/sbx/config.json`, else `~/.config/sbx/config.json`; null without a home. */
export function configFilePath(env: Record<string, string | undefined> = process.env): string | null {
  if (env.SBX_CONFIG) return env.SBX_CONFIG;
  const base = env.XDG_CONFIG_HOME || (env.HOME ? join(env.HOME, ".config") : undefined);
  return base ? join(base, "sbx", "config.json") : null;
}

/**
 * The config file, or an empty one when there is none. It holds tokens: one that others may read
 * (mode wider than 0600) is refused, as ssh refuses a readable private key.
 */
export function readConfigFile(path: string | null): ConfigFile {
  if (!path) return { contexts: {} };
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) return { contexts: {} };
  if ((st.mode & 0o077) !== 0)
    throw new SbxError(
      "permission_denied",
      `${path} holds tokens but others can read it (mode ${(st.mode & 0o777).toString(8).padStart(4, "0")}): make it private with \`chmod 600 ${path}\``,
    );
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new SbxError("invalid_argument", `${path} is not valid JSON: ${(err as Error).message}`);
  }
  const contexts = (parsed as ConfigFile | null)?.contexts;
  if (typeof parsed !== "object" || parsed === null || typeof contexts !== "object" || contexts === null)
    throw new SbxError("invalid_argument", `${path} is not an sbx config file: expected {"contexts": {...}}`);
  return parsed as ConfigFile;
}

/** The context to use: the one asked for, else the file's current one; unknown names are an error. */
function pickContext(file: ConfigFile, asked: string | undefined, path: string | null): [string, ContextEntry] | null {
  const name = asked || file.current;
  if (!name) return null;
  const entry = file.contexts[name];
  if (!entry)
    throw new SbxError(
      "not_found",
      `context ${JSON.stringify(name)} does not exist${path ? ` in ${path}` : ""}: list them with \`sbx context ls\``,
    );
  return [name, entry];
}

/** PEM text as given, or read from the file it names. */
function loadCa(value: string | undefined): string | null {
  if (!value) return null;
  if (value.includes("-----BEGIN")) return value;
  try {
    return readFileSync(value, "utf8");
  } catch (err) {
    throw new SbxError("invalid_argument", `cannot read the CA certificate ${value}: ${(err as Error).message}`);
  }
}

export function resolveConfig(options: ClientOptions = {}): ResolvedConfig {
  const env = options.env ?? process.env;
  const explicit = options.host || env.SBX_HOST || undefined;
  // A host given outright never borrows a context's token: that would send it to another daemon.
  const path = configFilePath(env);
  const picked = explicit ? null : pickContext(readConfigFile(path), options.context || env.SBX_CONTEXT, path);
  const ctx = picked?.[1] ?? {};
  const chosen = explicit ?? ctx.host;
  const { host, socketPath, baseUrl } = parseHost(chosen ?? DEFAULT_HOST);
  const named = options.project || env.SBX_PROJECT || ctx.project;
  return {
    host,
    socketPath,
    baseUrl,
    token: options.token || env.SBX_TOKEN || ctx.token || null,
    project: named || DEFAULT_PROJECT,
    projectNamed: Boolean(named),
    isDefaultHost: chosen === undefined || host === DEFAULT_HOST,
    ca: loadCa(options.ca || env.SBX_CA_CERT || ctx.ca),
    context: picked?.[0] ?? null,
  };
}

export function parseHost(raw: string): { host: string; socketPath: string | null; baseUrl: string } {
  if (raw.startsWith("/")) raw = `unix://${raw}`;
  if (raw.startsWith("unix://")) {
    const socketPath = raw.slice("unix://".length);
    if (!socketPath.startsWith("/")) {
      throw new SbxError(
        "invalid_argument",
        `bad host ${JSON.stringify(raw)}: a unix socket host is unix:///absolute/path`,
      );
    }
    // Over a socket the URL's authority is never used for routing; "localhost" is only the Host header.
    return { host: `unix://${socketPath}`, socketPath, baseUrl: "http://localhost" };
  }
  if (raw.startsWith("tcp://")) raw = `http://${raw.slice("tcp://".length)}`;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new SbxError(
      "invalid_argument",
      `bad host ${JSON.stringify(raw)}: use unix:///path/to/sbxd.sock or http://host:port`,
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new SbxError(
      "invalid_argument",
      `bad host ${JSON.stringify(raw)}: use unix:///path/to/sbxd.sock or http://host:port`,
    );
  }
  const baseUrl = url.origin + url.pathname.replace(/\/+$/, "");
  return { host: baseUrl, socketPath: null, baseUrl };
}

/** The base image of an `Image` that names none: env `SBX_DEFAULT_BASE_IMAGE`, else debian-minimal. */
export function defaultBaseImage(env: Record<string, string | undefined> = process.env): string {
  return env.SBX_DEFAULT_BASE_IMAGE || "debian-minimal";
}

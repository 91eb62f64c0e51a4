// Where the SDK finds sbxd and what it sends by default: explicit options, then SBX_* environment
// variables, then defaults. The only place the SDK reads its environment.
import { SbxError } from "@sbx-sh/protocol";

export const DEFAULT_HOST = "unix:///run/sbx/sbxd.sock";
export const DEFAULT_PROJECT = "default";

export interface ClientOptions {
  /** `unix:///path/to/sbxd.sock` or `http://host:port`; env `SBX_HOST`. */
  host?: string;
  /** Bearer token for TCP hosts; env `SBX_TOKEN`. */
  token?: string;
  /** Project sent as `X-Sbx-Project` (unix socket only; over TCP the token decides); env `SBX_PROJECT`. */
  project?: string;
  /** Environment to read `SBX_*` from; defaults to `process.env`. */
  env?: Record<string, string | undefined>;
}

export interface ResolvedConfig {
  /** The host as given, normalised (`unix:///...` or `http(s)://...`). */
  host: string;
  socketPath: string | null;
  baseUrl: string;
  token: string | null;
  project: string;
  /** True when nothing chose a host, so a CLI may start a local daemon on that socket. */
  isDefaultHost: boolean;
}

export function resolveConfig(options: ClientOptions = {}): ResolvedConfig {
  const env = options.env ?? process.env;
  const chosen = options.host || env.SBX_HOST || undefined;
  const { host, socketPath, baseUrl } = parseHost(chosen ?? DEFAULT_HOST);
  return {
    host,
    socketPath,
    baseUrl,
    token: options.token || env.SBX_TOKEN || null,
    project: options.project || env.SBX_PROJECT || DEFAULT_PROJECT,
    isDefaultHost: chosen === undefined || host === DEFAULT_HOST,
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

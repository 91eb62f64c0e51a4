// What the CLI takes from its environment, in one place (the SDK resolves SBX_HOST, SBX_TOKEN and
// SBX_PROJECT itself). Commands ask here, so every variable the CLI honours is listed in this file.

/** Where a local sbxd keeps its pid file (SBX_RUN_DIR, as sbxd reads it). */
export function runDir(): string {
  return process.env.SBX_RUN_DIR ?? "/run/sbx";
}

/** A local sbxd's data dir (SBX_DATA_DIR), when the user set one. */
export function dataDir(): string | undefined {
  return process.env.SBX_DATA_DIR;
}

/** Registry credentials for image push/pull when no flag gives them. */
export function registryCredentials(): { username?: string; password?: string; token?: string } {
  const env = process.env;
  return { username: env.SBX_REGISTRY_USER, password: env.SBX_REGISTRY_PASSWORD, token: env.SBX_REGISTRY_TOKEN };
}

/** `--build-arg NAME` without a value takes NAME from this environment, as docker build does. */
export function environmentValue(name: string): string | undefined {
  return process.env[name];
}

/** The user's terminal type, passed on to terminals in sandboxes. */
export function terminalType(): string | undefined {
  return process.env.TERM;
}

/** The directories searched for programs (for an sbxd on PATH). */
export function searchPath(): string {
  return process.env.PATH ?? "";
}

/** The interpreter `sbx image create image.py` runs (SBX_PYTHON; default python3 on PATH). */
export function pythonInterpreter(): string {
  return process.env.SBX_PYTHON || "python3";
}

/** How long evaluating an image file may take, in ms (SBX_IMAGE_LOAD_TIMEOUT in seconds; default 60). */
export function imageLoadTimeoutMs(): number {
  const secs = Number(process.env.SBX_IMAGE_LOAD_TIMEOUT);
  return Number.isFinite(secs) && secs > 0 ? secs * 1000 : 60_000;
}

/** The variables the SDK's config resolution reads (SBX_CONFIG, XDG_CONFIG_HOME, HOME, SBX_*). */
export function configEnv(): Record<string, string | undefined> {
  return process.env;
}

/**
 * NODE_EXTRA_CA_CERTS, when the launcher kept it from node's start (bin/sbx.js hands it over as
 * SBX_NODE_EXTRA_CA_CERTS so node does not parse the file before every command): put back in this
 * process's environment, so the processes the CLI starts (sbxd, python3, tar) get it unchanged, and
 * answered, so TLS in this process trusts the file when it is used (extra-ca-certs.ts). Undefined
 * when node started with the variable (it has loaded the file itself) or when none was set. The
 * hand-over variable is removed either way: it means something only to the process it was set for.
 */
export function takeDeferredExtraCaCerts(): string | undefined {
  const env = process.env;
  const handed = env.SBX_NODE_EXTRA_CA_CERTS;
  if (handed === undefined) return undefined;
  delete env.SBX_NODE_EXTRA_CA_CERTS;
  if (env.NODE_EXTRA_CA_CERTS !== undefined) return undefined;
  env.NODE_EXTRA_CA_CERTS = handed;
  return handed || undefined;
}

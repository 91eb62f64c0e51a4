// Writing the user's config file (contexts: which daemon, token, project and CA to use). The SDK
// reads it (sdk/config.ts); the CLI is the only writer. It holds tokens, so it is created 0600 in
// a 0700 directory and replaced atomically, and a file others can read is refused, not rewritten.
import { chmodSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { SbxError } from "@sbx-sh/protocol";
import { configFilePath, readConfigFile, type ConfigFile } from "@sbx-sh/sdk/internal";
import { configEnv } from "./config.js";

/** The config file's path; an error when there is no home directory to keep it in. */
export function configPath(): string {
  const path = configFilePath(configEnv());
  if (!path) throw new SbxError("failed_precondition", "no config directory: set HOME, XDG_CONFIG_HOME or SBX_CONFIG");
  return path;
}

export function loadConfig(): ConfigFile {
  return readConfigFile(configPath());
}

/** Replaces the config file with `config` (mode 0600, written to a temporary file and renamed). */
export function saveConfig(config: ConfigFile): void {
  const path = configPath();
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  // The umask cannot widen 0600, but an existing tmp file keeps its mode: make sure.
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

/** Reads, changes and writes back the config file. */
export function updateConfig(change: (config: ConfigFile) => void): ConfigFile {
  const config = loadConfig();
  change(config);
  saveConfig(config);
  return config;
}

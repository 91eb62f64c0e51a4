// Where the sbxd launcher is: the @sbx-sh/daemon package installed beside this CLI (as in the
// workspace, or `npm install -g @sbx-sh/cli @sbx-sh/daemon`), else an `sbxd` on PATH. The CLI
// starts the daemon and asks it to check the host, but never loads daemon code itself.
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { delimiter, dirname, join } from "node:path";
import { SbxError } from "@sbx-sh/protocol";
import { searchPath } from "./config.js";

/** The argv prefix that runs sbxd: [node, launcher] for the package, [path] for a PATH binary. */
export function sbxdCommand(): string[] {
  try {
    const pkg = createRequire(import.meta.url).resolve("@sbx-sh/daemon/package.json");
    const launcher = join(dirname(pkg), "bin", "sbxd.js");
    if (existsSync(launcher)) return [process.execPath, launcher];
  } catch {
    // not installed beside the CLI: look on PATH
  }
  for (const dir of searchPath().split(delimiter)) {
    if (dir && existsSync(join(dir, "sbxd"))) return [join(dir, "sbxd")];
  }
  throw new SbxError(
    "failed_precondition",
    "cannot find sbxd: install the daemon (npm install -g @sbx-sh/daemon) or put sbxd on PATH",
  );
}

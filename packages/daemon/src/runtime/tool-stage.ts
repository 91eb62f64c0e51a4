// The host binaries every sandbox runs (catatonit, busybox, sbx-agent), staged once per daemon start
// on a small read-only tmpfs named `sbx-tools`. Sandboxes bind them from there, so a sandbox's
// /proc/self/mountinfo names "/busybox on sbx-tools" instead of the host's install paths (F15 of the
// second security round). One mount for the whole daemon, none per sandbox: every mount in the
// host's table is copied into each new sandbox's mount namespace, so per-sandbox mounts cost density.
// The dir must be searchable by every uid (sandboxes' roots resolve these paths); it holds nothing
// but copies of public binaries.
import { chmod, copyFile, mkdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { mustRun, runCommand } from "../common/command.js";
import { mountsUnder } from "../layers/overlay.js";

const MiB = 1024 * 1024;

export class ToolStage<Name extends string> {
  private staged: Promise<Record<Name, string>> | undefined;

  /** `dir`: the mount point (made 0755); `tools`: the host binaries to stage, each under a name. */
  constructor(
    private readonly dir: string,
    private readonly tools: Record<Name, string>,
  ) {}

  /** The staged copies, by name (staged on first use; a failed staging is retried by the next call). */
  paths(): Promise<Record<Name, string>> {
    this.staged ??= this.stage().catch((err: unknown) => {
      this.staged = undefined;
      throw err;
    });
    return this.staged;
  }

  private async stage(): Promise<Record<Name, string>> {
    const tools = Object.entries(this.tools) as Array<[Name, string]>;
    await mkdir(this.dir, { recursive: true, mode: 0o755 });
    // A previous daemon's stage: detached, not destroyed; its sandboxes keep their binds of it.
    for (let i = 0; i < 8 && (await mountsUnder(this.dir)).includes(this.dir); i++)
      await mustRun("umount", ["-l", this.dir]);
    const sizes = await Promise.all(tools.map(async ([, path]) => (await stat(path)).size));
    const mb = Math.ceil(sizes.reduce((a, b) => a + b, 0) / MiB) + 1;
    await mustRun("mount", ["-t", "tmpfs", "-o", `size=${mb}m,mode=0755,nosuid,nodev`, "sbx-tools", this.dir]);
    try {
      const out = {} as Record<Name, string>;
      for (const [name, path] of tools) {
        const copy = join(this.dir, name);
        await copyFile(path, copy);
        await chmod(copy, 0o755);
        out[name] = copy;
      }
      await mustRun("mount", ["-o", "remount,ro,nosuid,nodev", this.dir]);
      return out;
    } catch (err) {
      await runCommand("umount", ["-l", this.dir]);
      throw err;
    }
  }
}

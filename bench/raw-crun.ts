// The baseline: crun driven directly on the same base rootfs with the same OCI config sbx
// generates (user namespace, cgroups, seccomp), without the daemon, HTTP or bookkeeping.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildOciConfig } from "../packages/daemon/src/runtime/oci-config.js";

export class RawCrun {
  readonly crunRoot: string;
  private n = 0;

  constructor(
    private readonly dir: string,
    private readonly lowerdir: string,
  ) {
    this.crunRoot = join(dir, "crun");
    mkdirSync(this.crunRoot, { recursive: true });
  }

  /** Deletes the containers a killed run left in `dir` (their mounts go with the daemon's reset). */
  static removeLeftovers(dir: string): void {
    const root = join(dir, "crun");
    const left = spawnSync("crun", ["--root", root, "list", "-q"], { encoding: "utf8" }).stdout ?? "";
    for (const id of left.split("\n").filter(Boolean)) spawnSync("crun", ["--root", root, "delete", "--force", id]);
  }

  /** mount overlay + write config + `crun run <args>` + umount: the whole raw lifecycle. */
  async lifecycle(args: string[]): Promise<void> {
    const id = `raw-${process.pid}-${this.n++}`;
    const b = this.bundle(id, args);
    await run("crun", ["--root", this.crunRoot, "run", "--bundle", b, id]);
    this.teardown(b);
  }

  /** A long-running container to exec into; returns its id. */
  async startKeeper(): Promise<string> {
    const id = `raw-keeper-${process.pid}-${this.n++}`;
    const b = this.bundle(id, ["/.sbx/init", "-P"]);
    await run("crun", ["--root", this.crunRoot, "run", "--detach", "--bundle", b, id]);
    return id;
  }

  /** The keeper's cgroup path (as in its OCI config). */
  cgroupPath(id: string): string {
    return `/sbx-bench/${id}`;
  }

  async exec(id: string, args: string[]): Promise<void> {
    await run("crun", ["--root", this.crunRoot, "exec", id, ...args]);
  }

  stopKeeper(id: string): void {
    execFileSync("crun", ["--root", this.crunRoot, "delete", "--force", id]);
    this.teardown(join(this.dir, id));
  }

  private bundle(id: string, args: string[]): string {
    const b = join(this.dir, id);
    for (const d of ["upper", "work", "rootfs"]) mkdirSync(join(b, d), { recursive: true });
    execFileSync("chown", ["100000:100000", join(b, "upper")]);
    execFileSync("chmod", ["0711", b]);
    execFileSync("mount", [
      "-t",
      "overlay",
      "-o",
      `lowerdir=${this.lowerdir},upperdir=${b}/upper,workdir=${b}/work`,
      "raw",
      join(b, "rootfs"),
    ]);
    const cfg = buildOciConfig({
      id,
      rootfs: join(b, "rootfs"),
      hostname: id,
      init: args,
      env: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
      cwd: "/",
      uidBase: 100000,
      uidCount: 65536,
      cpus: 1,
      memoryMb: 1024,
      pidsLimit: 1024,
      limitSwap: false,
      nofile: 1024,
      cgroupsPath: `/sbx-bench/${id}`,
      initPath: "/usr/bin/catatonit",
      busyboxPath: "/bin/busybox",
    });
    writeFileSync(join(b, "config.json"), JSON.stringify(cfg));
    return b;
  }

  private teardown(b: string): void {
    execFileSync("umount", [join(b, "rootfs")]);
    rmSync(b, { recursive: true, force: true });
  }
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    c.stderr.on("data", (b: Buffer) => (err += b.toString()));
    c.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(" ")}: ${err}`))));
  });
}

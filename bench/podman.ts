// The second baseline: Debian's podman on the same rootfs. Installed from apt in the bench's
// setup step if missing; when that fails the report says why instead of the bench failing. It
// runs with private storage (--root/--runroot), cgroupfs, no network and the same rlimits sbx
// gives a sandbox, so it starts nothing the rest of the machine sees.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";

function podmanGlobals(dir: string): string[] {
  return [
    "--root",
    join(dir, "root"),
    "--runroot",
    join(dir, "run"),
    "--cgroup-manager",
    "cgroupfs",
    "--events-backend",
    "file",
    "--storage-driver",
    "overlay",
  ];
}

const RLIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"];

export class Podman {
  private constructor(
    private readonly dir: string,
    /** The uid-shifted base layer sbx runs on, used through a podman overlay (`:O`) so it stays unchanged. */
    private readonly rootfs: string,
    readonly version: string,
  ) {}

  /** Podman ready to run, or the reason it is not (shown in the report). */
  static async setup(dir: string, rootfs: string, baseTar: string | undefined): Promise<Podman | string> {
    if (spawnSync("podman", ["--version"]).status !== 0) {
      console.error("bench: podman missing, installing it from apt (apt-get install -y podman)");
      const r = spawnSync("apt-get", ["install", "-y", "--no-install-recommends", "podman"], {
        env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
        encoding: "utf8",
        timeout: 600_000,
      });
      if (r.status !== 0)
        return `podman is not installed and \`apt-get install -y podman\` failed: ${(r.stderr || r.error?.message || "").trim().split("\n").at(-1)}`;
    }
    const version = execFileSync("podman", ["--version"], { encoding: "utf8" }).trim();
    const p = new Podman(dir, rootfs, version);
    mkdirSync(dir, { recursive: true });
    try {
      // The same base, unshifted, as an image for `podman build`.
      if (baseTar)
        execFileSync("sh", ["-c", `zstd -dc '${baseTar}' | ${p.cmd().join(" ")} import - sbb-base`], {
          stdio: "ignore",
        });
      await p.lifecycle();
    } catch (e) {
      p.cleanup();
      return `${version} is installed but does not run here: ${(e as Error).message.split("\n")[0]}`;
    }
    return p;
  }

  cmd(): string[] {
    return ["podman", ...podmanGlobals(this.dir)];
  }

  /** `podman run --rm` of /bin/true on the base rootfs: create, start, wait, remove. */
  lifecycle(): Promise<string> {
    return this.podman(["run", "--rm", "--network", "none", ...RLIMITS, "--rootfs", `${this.rootfs}:O`, "/bin/true"]);
  }

  async startKeeper(): Promise<string> {
    return (
      await this.podman([
        "run",
        "-d",
        "--network",
        "none",
        ...RLIMITS,
        "--rootfs",
        `${this.rootfs}:O`,
        "sleep",
        "infinity",
      ])
    ).trim();
  }

  exec(id: string, args = ["/bin/true"]): Promise<string> {
    return this.podman(["exec", id, ...args]);
  }

  /** `podman commit` of a running container (paused while its layer is read), as image `sbb-snap`. */
  commit(id: string): Promise<string> {
    return this.podman(["commit", "-q", "--pause", id, "sbb-snap"]);
  }

  /** `podman run --rm` of /bin/true from an image of the private storage. */
  runImage(image: string, detach = false): Promise<string> {
    return this.podman([
      "run",
      detach ? "-d" : "--rm",
      "--network",
      "none",
      ...RLIMITS,
      image,
      ...(detach ? ["sleep", "infinity"] : ["/bin/true"]),
    ]);
  }

  stopKeeper(id: string): Promise<string> {
    return this.podman(["rm", "-f", "-t", "0", id]);
  }

  /** `podman build` of a context dir holding a Containerfile; noCache for a cold build. */
  build(context: string, noCache: boolean): Promise<string> {
    return this.podman([
      "build",
      "-q",
      ...(noCache ? ["--no-cache"] : []),
      "--network",
      "none",
      ...RLIMITS,
      "-t",
      "sbb-img",
      context,
    ]);
  }

  cleanup(): void {
    Podman.removeAll(this.dir);
  }

  /** Removes every container of the private storage in `dir` (also what a killed run left), then `dir`. */
  static removeAll(dir: string): void {
    if (existsSync(dir)) spawnSync("podman", [...podmanGlobals(dir), "rm", "-a", "-f", "-t", "0"], { stdio: "ignore" });
    const mounts = readFileSync("/proc/self/mountinfo", "utf8")
      .split("\n")
      .map((l) => l.split(" ")[4] ?? "")
      .filter((m) => m.startsWith(dir + "/"));
    for (const m of mounts.sort((a, b) => b.length - a.length)) spawnSync("umount", ["-l", m]);
    rmSync(dir, { recursive: true, force: true });
  }

  private podman(args: string[]): Promise<string> {
    const [cmd, ...pre] = this.cmd();
    return new Promise((resolve, reject) => {
      const c = spawn(cmd!, [...pre, ...args], { stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      let err = "";
      c.stdout.on("data", (b: Buffer) => (out += b.toString()));
      c.stderr.on("data", (b: Buffer) => (err += b.toString()));
      c.on("exit", (code) =>
        code === 0 ? resolve(out) : reject(new Error(`podman ${args.join(" ")}: ${err.trim()}`)),
      );
    });
  }
}

// End-to-end test harness: starts the real sbxd as a child process on a private socket, data dir
// and network names (so it never collides with a user's daemon), and waits until it answers.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createWriteStream, existsSync, readFileSync } from "node:fs";
import { chmod, mkdir, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export { freePort } from "../packages/daemon/src/testing/free-port.js";

export const REPO = fileURLToPath(new URL("..", import.meta.url));
const SBXD = join(REPO, "packages", "daemon", "bin", "sbxd.js");

export interface TestDaemonOptions {
  name: string;
  /** Network: each daemon of a run gets its own subnet and interface prefix. */
  netIndex: number;
  extraArgs?: string[];
  /** Another sbxd launcher than this checkout's (the upgrade test runs the previous layout's). */
  launcher?: string;
  /** A command the daemon runs under, e.g. `["nsenter", "--net=/run/netns/x", "--"]` (a node of a test fleet). */
  wrap?: string[];
  /** Overrides for a daemon outside the test slots (the benchmarks): its dir, subnet, veth prefix. */
  root?: string;
  subnet?: string;
  ifPrefix?: string;
}

function testSlot(): number | undefined {
  const raw = process.env.SBX_TEST_SLOT;
  if (raw === undefined || raw === "") return undefined;
  if (!/^\d$/.test(raw)) throw new Error(`SBX_TEST_SLOT must be one digit, got ${JSON.stringify(raw)}`);
  return Number(raw);
}

/** Where the test daemon called `name` keeps its dirs (`data/`, `run/`), slot included. */
export function testDaemonRoot(name: string): string {
  const slot = testSlot();
  return join("/tmp", slot === undefined ? `sbx-test-${name}` : `sbx-test${slot}-${name}`);
}

export class TestDaemon {
  child: ChildProcess | undefined;
  readonly root: string;
  readonly socket: string;
  readonly env: NodeJS.ProcessEnv;
  log = "";
  /** Set by stop() (or a test that makes it exit): any other exit is a crash, and its log's tail goes to stderr. */
  expectingExit = false;

  constructor(readonly opts: TestDaemonOptions) {
    // SBX_TEST_SLOT (0-9) lets several checkouts run their suites at once on one machine: each slot
    // has its own dirs, subnets (10.<120+10*slot+index>) and interface prefixes (sb<slot><letter>).
    const slot = testSlot();
    this.root = opts.root ?? testDaemonRoot(opts.name);
    this.socket = join(this.root, "run", "sbxd.sock");
    this.env = {
      ...process.env,
      SBX_DATA_DIR: join(this.root, "data"),
      SBX_RUN_DIR: join(this.root, "run"),
      SBX_SOCKET: this.socket,
      SBX_CACHE_DIR: process.env.SBX_CACHE_DIR ?? "/var/cache/sbx",
      SBX_SUBNET: opts.subnet ?? `10.${120 + (slot ?? 0) * 10 + opts.netIndex}.0.0/16`,
      SBX_IF_PREFIX: opts.ifPrefix ?? `sb${slot ?? "t"}${String.fromCharCode(97 + opts.netIndex)}`,
      SBX_LOG_LEVEL: "info",
      // Any free port: test daemons run side by side, and the exposure URLs say which one.
      SBX_PROXY_LISTEN: "127.0.0.1:0",
      // The tests' registries listen on loopback, which a daemon refuses to reach unless told.
      SBX_OUTBOUND_ALLOW: "loopback",
    };
  }

  get host(): string {
    return `unix://${this.socket}`;
  }

  /** Wipes any state a previous run left and starts fresh; keepData keeps data/ (store, layers, images). */
  async reset(opts: { keepData?: boolean } = {}): Promise<void> {
    // A previous run that died may have left containers, mounts and veths: remove them first.
    const crunRoot = join(this.root, "run", "crun");
    const ids =
      spawnSync("crun", ["--root", crunRoot, "list", "-q"]).stdout?.toString().split("\n").filter(Boolean) ?? [];
    for (const id of ids) spawnSync("crun", ["--root", crunRoot, "delete", "--force", id]);
    const mounts = readFileSync("/proc/self/mountinfo", "utf8")
      .split("\n")
      .map((l) => l.split(" ")[4] ?? "")
      .filter((m) => m.startsWith(this.root + "/"));
    for (const m of mounts.sort((a, b) => b.length - a.length)) spawnSync("umount", ["-l", m]);
    const links = spawnSync("ip", ["-o", "link"]).stdout?.toString() ?? "";
    for (const m of links.matchAll(new RegExp(`^\\d+: (${this.env.SBX_IF_PREFIX}\\d+)@`, "gm")))
      spawnSync("ip", ["link", "del", m[1]!]);
    if (opts.keepData && existsSync(this.root)) {
      for (const e of await readdir(this.root))
        if (e !== "data") await rm(join(this.root, e), { recursive: true, force: true });
    } else await rm(this.root, { recursive: true, force: true });
    await mkdir(this.root, { recursive: true });
    // Sandboxes' user namespaces must traverse it (a bench run once found it 0700 and every create failed).
    await chmod(this.root, 0o755);
  }

  async start(timeoutMs = 300_000): Promise<void> {
    this.log = "";
    const argv = [process.execPath, this.opts.launcher ?? SBXD, ...(this.opts.extraArgs ?? [])];
    const [cmd, ...args] = [...(this.opts.wrap ?? []), ...argv];
    const child = spawn(cmd!, args, {
      env: this.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child = child;
    this.expectingExit = false;
    // The whole log also goes to a file beside the daemon's dirs, for a look after the run.
    const file = createWriteStream(join(this.root, "sbxd.log"), { flags: "a" });
    file.on("error", () => undefined); // a root not made yet: the in-memory log still has it all
    const keep = (b: Buffer): void => {
      this.log += b.toString();
      file.write(b);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    child.once("exit", (code, signal) => {
      file.end();
      if (this.expectingExit) return;
      const tail = this.log.split("\n").slice(-60).join("\n");
      process.stderr.write(`\n[harness] sbxd "${this.opts.name}" exited unexpectedly (${code ?? signal}):\n${tail}\n`);
    });
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      // A death by signal (SIGBUS on a full disk, the OOM killer) leaves exitCode null: report it too.
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(`sbxd exited with ${child.exitCode ?? child.signalCode}:\n${this.log}`);
      if (existsSync(this.socket) && this.log.includes("sbxd ready")) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`sbxd did not become ready in ${timeoutMs} ms:\n${this.log}`);
  }

  /** Stops the daemon with a signal and waits for it to exit. */
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    this.expectingExit = true;
    child.kill(signal);
    await exited;
    // Its staged helper binaries (runtime/tool-stage.ts) outlive a real daemon on purpose; a test
    // daemon's go with it (its sandboxes keep their own binds, and a restart stages them again).
    spawnSync("umount", ["-l", join(this.root, "run-tools")], { stdio: "ignore" });
  }
}

/** Polls `fn` until it returns a truthy value or the time runs out. */
export async function waitFor<T>(
  fn: () => Promise<T> | T,
  timeoutMs = 10_000,
  what = "condition",
): Promise<NonNullable<T>> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// sbxd entry point: parse flags, start the daemon, stop cleanly on SIGTERM/SIGINT. Sandboxes keep
// running when the daemon stops; the next start reconciles with them.
import { maskStoreArgs } from "./common/argv-secrets.js";
import { defaultConfig, parseFlags, USAGE } from "./config.js";
import { startDaemon } from "./daemon.js";
import { runDoctor } from "./runtime/doctor.js";

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log(USAGE);
    return;
  }
  if (argv[0] === "doctor") {
    process.exitCode = await doctor(argv.slice(1));
    return;
  }
  if (process.getuid?.() !== 0) {
    console.error(
      "sbxd must run as root (it mounts filesystems and manages cgroups): run it with sudo, or use `sbx daemon start`",
    );
    process.exit(1);
  }
  // Every host user reads our command line (ps): a --store password in it is masked at once.
  const masked = maskStoreArgs(argv);
  if (masked) process.title = [...process.argv.slice(0, 2), ...masked].join(" ");
  const cfg = parseFlags(argv, defaultConfig());
  const daemon = await startDaemon(cfg);
  const log = daemon.services.log;
  if (masked)
    log.warn(
      {},
      "--store holds a password: every host user could read it in `ps` while sbxd started; give it as SBX_STORE instead",
    );
  // A promise nobody waited for failed: a bug, logged with its stack. It is no reason to end every
  // tenant's calls and sandbox connections at once, which Node's default (exit) would do.
  process.on("unhandledRejection", (err) =>
    log.error({ err }, "unhandled rejection (a bug in sbxd: please report it)"),
  );
  // A throw nobody caught leaves the daemon in an unknown state: it exits, but says why first (the
  // log is written synchronously), so the journal or a test harness shows the cause.
  process.on("uncaughtException", (err) => {
    log.error({ err }, "sbxd crashed");
    process.exit(1);
  });
  let stopping = false;
  const stop = (sig: string): void => {
    if (stopping) return;
    stopping = true;
    daemon.services.log.info({ signal: sig }, "sbxd stopping");
    const force = setTimeout(() => process.exit(0), 5000);
    force.unref();
    void daemon.close().then(() => process.exit(0));
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

/** `sbxd doctor [--json] [--data-dir DIR]`: the host checks, without root and without starting anything. */
async function doctor(args: string[]): Promise<number> {
  const at = args.indexOf("--data-dir");
  const checks = await runDoctor({
    dataDir: at >= 0 ? args[at + 1] : defaultConfig().dataDir,
    agentPath: defaultConfig().agentPath,
    deflatePath: defaultConfig().deflatePath,
    caCerts: defaultConfig().caCerts,
  });
  if (args.includes("--json")) console.log(JSON.stringify(checks, null, 2));
  else
    for (const c of checks)
      console.log(`${c.ok ? "ok  " : "FAIL"} ${c.name}: ${c.detail}${!c.ok && c.fix ? `\n      fix: ${c.fix}` : ""}`);
  return checks.some((c) => !c.ok) ? 1 : 0;
}

main().catch((err: unknown) => {
  console.error(`sbxd: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});

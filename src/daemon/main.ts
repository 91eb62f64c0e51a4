// sbxd entry point: parse flags, start the daemon, stop cleanly on SIGTERM/SIGINT. Sandboxes keep
// running when the daemon stops; the next start reconciles with them.
import { defaultConfig, parseFlags, USAGE } from "./config.js";
import { startDaemon } from "./daemon.js";

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log(USAGE);
    return;
  }
  if (process.getuid?.() !== 0) {
    console.error("sbxd must run as root (it mounts filesystems and manages cgroups): run it with sudo, or use `sbx daemon start`");
    process.exit(1);
  }
  const cfg = parseFlags(argv, defaultConfig());
  const daemon = await startDaemon(cfg);
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

main().catch((err: unknown) => {
  console.error(`sbxd: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});

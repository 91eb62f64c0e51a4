// `sbx daemon start|stop|status`: run a local sbxd in the background, stop it, or ask how it is.
import type { Command } from "commander";
import { SbxError } from "@sbx-sh/protocol";
import { SandboxClient } from "@sbx-sh/sdk/core";
import { globalsOf } from "../context.js";
import { parsePositiveInt } from "../option-numbers.js";
import { startWithSystemd, systemctl, systemdManages } from "../systemd.js";
import { pidFilePath, startDaemon, stopDaemon } from "../daemon-control.js";
import { CliExit, printJson, printLines, progress } from "../output.js";

function plainClient(cmd: Command): SandboxClient {
  const g = globalsOf(cmd);
  return new SandboxClient({ host: g.host, project: g.project });
}

export function registerDaemonCommands(program: Command): void {
  const daemon = program
    .command("daemon")
    .description("start, stop or check the local sbx daemon (sbxd)")
    .addHelpText(
      "after",
      `
Examples:
  $ sudo sbx daemon start
  $ sbx daemon status --json
  $ sudo sbx daemon stop`,
    );

  daemon
    .command("start")
    .description("start sbxd in the background and wait until it answers")
    .option("--wait <seconds>", "how long to wait for it to answer", parsePositiveInt, 10)
    .addHelpText(
      "after",
      `
Its output goes to /var/log/sbx/sbxd.log (or sbxd.log in the data dir when that is not writable).
Where setup installed the systemd unit (systemd is PID 1), this runs \`systemctl start sbxd\`.
Other commands start it on first use when --host/SBX_HOST are not set.

Examples:
  $ sudo sbx daemon start
  $ sudo SBX_DATA_DIR=/srv/sbx sbx daemon start`,
    )
    .action(async (o: { wait: number }, cmd: Command) => {
      const g = globalsOf(cmd);
      const client = plainClient(cmd);
      try {
        // Under systemd the service manager starts it (and restarts it, and at boot).
        const r = systemdManages()
          ? await startWithSystemd(client, o.wait * 1000)
          : await startDaemon(client, { timeoutMs: o.wait * 1000 });
        if (g.json) printJson({ ...r.info, pid: r.pid, log: r.logPath, alreadyRunning: r.alreadyRunning });
        else if (r.alreadyRunning) progress(`sbxd ${r.info.version} is already running at ${client.config.host}`);
        else progress(`sbxd ${r.info.version} started (pid ${r.pid}, log ${r.logPath})`);
      } finally {
        await client.close();
      }
    });

  daemon
    .command("stop")
    .description("stop sbxd (SIGTERM via its pid file); sandboxes keep running")
    .option("--wait <seconds>", "how long to wait for it to exit", parsePositiveInt, 15)
    .addHelpText(
      "after",
      `
Examples:
  $ sudo sbx daemon stop
  $ sudo SBX_RUN_DIR=/tmp/sbx-run sbx daemon stop`,
    )
    .action(async (o: { wait: number }, cmd: Command) => {
      const g = globalsOf(cmd);
      if (systemdManages()) {
        systemctl("stop");
        if (g.json) printJson({ stopped: true, pid: null, note: "stopped with systemctl stop sbxd" });
        else progress("sbxd stopped (systemctl stop sbxd); sandboxes keep running");
        return;
      }
      const r = await stopDaemon({ timeoutMs: o.wait * 1000 });
      if (g.json) printJson({ stopped: r.pid !== null, pid: r.pid, note: r.note ?? null });
      else progress(r.pid !== null ? `sbxd (pid ${r.pid}) stopped` : (r.note ?? "sbxd is not running"));
    });

  daemon
    .command("status")
    .description("say whether sbxd answers, and what it runs")
    .addHelpText(
      "after",
      `
Exits 1 when the daemon does not answer.

Examples:
  $ sbx daemon status
  $ sbx daemon status --host http://10.0.0.5:7070 --json`,
    )
    .action(async (_o: unknown, cmd: Command) => {
      const g = globalsOf(cmd);
      const client = plainClient(cmd);
      try {
        const info = await client.info();
        if (g.json) return printJson({ running: true, host: client.config.host, ...info });
        printLines([
          `sbxd ${info.version} is running at ${client.config.host}`,
          `runtime:    ${info.runtime}`,
          `cgroups:    v${info.cgroupVersion}`,
          ...(info.dataDir ? [`data dir:   ${info.dataDir}`] : []),
          `sandboxes:  ${info.sandboxesRunning} running`,
        ]);
      } catch (err) {
        if (!(err instanceof SbxError) || err.code !== "daemon_unavailable") throw err;
        if (g.json) printJson({ running: false, host: client.config.host, pidFile: pidFilePath() });
        else printLines([`sbxd is not running at ${client.config.host} (start it with \`sbx daemon start\`)`]);
        throw new CliExit(1);
      } finally {
        await client.close();
      }
    });
}

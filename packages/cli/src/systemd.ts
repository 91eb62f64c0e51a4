// sbxd under systemd: when systemd is PID 1 and setup installed the sbxd unit, `sbx daemon
// start|stop` go through systemctl (so the service manager knows, restarts on failure and starts it
// at boot); otherwise they fall back to running sbxd in the background (daemon-control.ts).
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { SbxError } from "@sbx-sh/protocol";
import type { SandboxClient } from "@sbx-sh/sdk";
import type { StartResult } from "./daemon-control.js";

export const UNIT = "sbxd.service";
const UNIT_PATHS = [`/etc/systemd/system/${UNIT}`, `/lib/systemd/system/${UNIT}`];

/** Whether systemd manages sbxd here: it is PID 1 and the unit is installed. */
export function systemdManages(
  facts: { pid1: string; unitInstalled: boolean } = {
    pid1: readPid1(),
    unitInstalled: UNIT_PATHS.some((p) => existsSync(p)),
  },
): boolean {
  return facts.pid1 === "systemd" && facts.unitInstalled;
}

function readPid1(): string {
  try {
    return readFileSync("/proc/1/comm", "utf8").trim();
  } catch {
    return "";
  }
}

/** `systemctl <verb> sbxd.service`, failing with systemctl's own words. */
export function systemctl(verb: "start" | "stop" | "restart"): void {
  const r = spawnSync("systemctl", [verb, UNIT], { encoding: "utf8" });
  if (r.status !== 0)
    throw new SbxError(
      r.status === 4 || /access denied|authentication/i.test(r.stderr) ? "permission_denied" : "daemon_unavailable",
      `systemctl ${verb} ${UNIT} failed: ${(r.stderr || r.error?.message || "").trim()}; see journalctl -u sbxd`,
    );
}

/** `systemctl start sbxd`, then waits until the daemon answers on the client's socket. */
export async function startWithSystemd(client: SandboxClient, timeoutMs: number): Promise<StartResult> {
  const wasUp = await client.info().then(
    () => true,
    () => false,
  );
  systemctl("start");
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return { alreadyRunning: wasUp, pid: null, logPath: "journalctl -u sbxd", info: await client.info() };
    } catch (err) {
      if (Date.now() > deadline)
        throw new SbxError(
          "daemon_unavailable",
          `sbxd did not answer within ${timeoutMs / 1000} s of systemctl start: see journalctl -u sbxd`,
          undefined,
          { cause: err },
        );
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

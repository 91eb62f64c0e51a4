// Waiting for a systemd sandbox to be usable: once systemd has finished booting (running or
// degraded). A sandbox that died meanwhile, or a boot that takes over a minute, fails with the
// last lines of the init's log.
import { readFile } from "node:fs/promises";
import { SbxError } from "@sbx-sh/protocol";
import type { Crun } from "./crun.js";

export async function waitForBoot(crun: Crun, id: string, initLog: string): Promise<void> {
  const until = Date.now() + 60_000;
  let last = "";
  while (Date.now() < until) {
    // Until systemd has opened its bus, systemctl fails at once; then --wait blocks until boot ends.
    const r = await crun.exec(id, ["systemctl", "is-system-running", "--wait"], {
      env: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
      cwd: "/",
      user: "0:0",
      timeoutMs: 60_000,
    });
    last = r.stdout.toString().trim() || r.stderr.trim();
    if (last === "running" || last === "degraded") return;
    const s = await crun.state(id);
    if (!(s !== undefined && (s.status === "running" || s.status === "created" || s.status === "paused"))) break;
    await new Promise((res) => setTimeout(res, 50));
  }
  const log = (await readFile(initLog, "utf8").catch(() => "")).trim().split("\n").slice(-5).join(" | ");
  throw new SbxError("runtime_error", `systemd did not finish booting (${last}): ${log || "no output"}`);
}

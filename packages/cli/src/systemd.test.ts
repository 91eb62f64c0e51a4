// The sbxd systemd unit and when the CLI hands the daemon to systemd: only where systemd is PID 1
// and the unit is installed; the unit keeps sandboxes running across a stop and restarts on failure.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { systemdManages } from "./systemd.js";

const unit = readFileSync(join(import.meta.dirname, "..", "..", "..", "scripts", "sbxd.service"), "utf8");
const setting = (key: string): string[] =>
  unit
    .split("\n")
    .filter((l) => l.startsWith(`${key}=`))
    .map((l) => l.slice(key.length + 1));

describe("sbxd under systemd", () => {
  it("is used only where systemd is PID 1 and the unit is installed", () => {
    expect(systemdManages({ pid1: "systemd", unitInstalled: true })).toBe(true);
    expect(systemdManages({ pid1: "systemd", unitInstalled: false })).toBe(false);
    // A container's PID 1 (these build machines): the background start.
    expect(systemdManages({ pid1: "process_api", unitInstalled: true })).toBe(false);
    expect(systemdManages({ pid1: "", unitInstalled: true })).toBe(false);
  });

  it("ships a unit that restarts on failure, starts at boot, logs to both places, and never kills sandboxes", () => {
    expect(setting("Restart")).toEqual(["on-failure"]);
    expect(setting("WantedBy")).toEqual(["multi-user.target"]);
    expect(setting("KillMode")).toEqual(["process"]);
    expect(setting("StandardOutput")).toEqual(["journal"]);
    expect(setting("Environment")).toContain("SBX_LOG_FILE=/var/log/sbx/sbxd.log");
    expect(setting("ExecStart")).toEqual(["/usr/local/bin/sbxd"]);
  });
});

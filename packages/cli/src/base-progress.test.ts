// The base build view: one line per phase in plain mode, a redrawn line ended at ready on a TTY,
// NDJSON progress events with --json, nothing with -q; hostile attribute text loses its controls.
import { describe, expect, it } from "vitest";
import type { SbxEvent } from "@sbx-sh/sdk";
import { BaseBuildProgress } from "./base-progress.js";

const ev = (
  phase: string,
  step: number,
  type: SbxEvent["type"] = "base.progress",
  packages: [number, number] | null = null,
): SbxEvent => ({
  id: step,
  time: "2026-12-06T11:00:00.000Z",
  type,
  project: "default",
  subject: "debian-minimal",
  sandboxId: null,
  attributes: {
    base: "debian-minimal",
    phase,
    step,
    total: 10,
    packages: packages?.[0] ?? null,
    packagesTotal: packages?.[1] ?? null,
  },
});

function run(mode: "tty" | "plain" | "json" | "quiet", events: SbxEvent[]): { text: string; view: BaseBuildProgress } {
  let text = "";
  const view = new BaseBuildProgress(mode, (t) => (text += t));
  for (const e of events) view.onEvent(e);
  return { text, view };
}

describe("BaseBuildProgress", () => {
  const phases = [ev("downloading packages", 3), ev("creating tarball", 7), ev("ready", 10)];

  it("prints a plain line per phase", () => {
    expect(run("plain", phases).text).toBe(
      "base debian-minimal: [3/10] downloading packages\n" +
        "base debian-minimal: [7/10] creating tarball\n" +
        "base debian-minimal: [10/10] ready\n",
    );
  });

  it("redraws one line on a terminal and ends it at ready", () => {
    const { text, view } = run("tty", phases);
    expect(text.split("\r\x1b[2K").filter(Boolean)).toEqual([
      "building base image debian-minimal: [3/10] downloading packages",
      "building base image debian-minimal: [7/10] creating tarball",
      "building base image debian-minimal: [10/10] ready\n",
    ]);
    expect(view.open).toBe(false);
  });

  it("emits NDJSON progress events with --json, and nothing with -q", () => {
    const lines = run("json", phases)
      .text.trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => [l.event, l.op, l.label, l.phase, l.step, l.total, l.packages, l.done])).toEqual([
      ["progress", "base", "debian-minimal", "downloading packages", 3, 10, null, false],
      ["progress", "base", "debian-minimal", "creating tarball", 7, 10, null, false],
      ["progress", "base", "debian-minimal", "ready", 10, 10, null, true],
    ]);
    expect(run("quiet", phases).text).toBe("");
  });

  it("ignores other events, keeps a build open until ready, and strips control characters", () => {
    const { text, view } = run("plain", [ev("x", 1, "build.step"), ev("extract\x1b[2Jing\r", 4)]);
    expect(text).toBe("base debian-minimal: [4/10] extract[2Jing\n");
    expect(view.open).toBe(true);
  });

  it("closes a live line left open on a terminal", () => {
    let text = "";
    const view = new BaseBuildProgress("tty", (t) => (text += t));
    view.onEvent(ev("downloading packages", 3));
    view.close();
    expect(text.endsWith("downloading packages\n")).toBe(true);
  });

  it("shows package counts: every one on a terminal, in plain mode at a phase start and then every 5 s", () => {
    const counts = [0, 1, 2, 3].map((n) => ev("downloading packages", 3, "base.progress", [n, 69]));
    let clock = 0;
    let plain = "";
    const view = new BaseBuildProgress(
      "plain",
      (t) => (plain += t),
      () => clock,
    );
    view.onEvent(counts[0]!);
    clock = 1000;
    view.onEvent(counts[1]!);
    clock = 6000;
    view.onEvent(counts[2]!);
    clock = 7000;
    view.onEvent(counts[3]!);
    expect(plain).toBe(
      "base debian-minimal: [3/10] downloading packages (0/69 packages)\n" +
        "base debian-minimal: [3/10] downloading packages (2/69 packages)\n",
    );
    expect(run("tty", counts).text.split("\r\x1b[2K").filter(Boolean).at(-1)).toBe(
      "building base image debian-minimal: [3/10] downloading packages (3/69 packages)",
    );
    const json = JSON.parse(run("json", [counts[3]!]).text) as Record<string, unknown>;
    expect([json.packages, json.packagesTotal]).toEqual([3, 69]);
  });
});

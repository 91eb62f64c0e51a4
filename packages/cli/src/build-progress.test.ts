// Build progress rendered from a canned event sequence: plain lines, json pass-through, the
// failure block, quiet mode, and the tty status line.
import { describe, expect, it } from "vitest";
import type { BuildEvent, BuildInfo, ImageInfo } from "@sbx-sh/protocol";
import { BuildProgress, formatDuration, type ProgressMode } from "./build-progress.js";

const build: BuildInfo = {
  id: "bld-1",
  project: "default",
  imageName: "data-tools",
  tag: "latest",
  state: "running",
  steps: 3,
  imageId: null,
  failure: null,
  createdAt: "2026-01-01T00:00:00.000Z",
  startedAt: "2026-01-01T00:00:00.000Z",
  endedAt: null,
};
const image: ImageInfo = {
  name: "data-tools",
  tag: "latest",
  id: "sha256:abc",
  project: "default",
  kind: "built",
  baseImage: "debian-minimal",
  sizeBytes: 3 * 1024 * 1024,
  layers: [],
  config: { env: [], workingDir: "/", user: "root", entrypoint: null, cmd: null, systemd: false },
  buildId: "bld-1",
  isolation: "userns",
  createdAt: "",
};
const events: BuildEvent[] = [
  { type: "build", build },
  { type: "step", step: 1, total: 3, text: "ENV A=1", cached: true, key: "k1" },
  { type: "step_done", step: 1, cached: true, durationMs: 0, layer: null },
  { type: "step", step: 2, total: 3, text: "RUN apt-get install -y python3", cached: false, key: "k2" },
  { type: "log", step: 2, stream: "stdout", data: "Reading pack" },
  { type: "log", step: 2, stream: "stdout", data: "age lists...\n10%\r50%\r100%\n" },
  { type: "log", step: 2, stream: "stderr", data: "debconf: no frontend" },
  { type: "step_done", step: 2, cached: false, durationMs: 3240, layer: { digest: "sha256:l2", sizeBytes: 2048 } },
  { type: "step", step: 3, total: 3, text: "COPY scripts/ /opt/app/scripts/", cached: false, key: "k3" },
  { type: "step_done", step: 3, cached: false, durationMs: 120, layer: { digest: "sha256:l3", sizeBytes: 512 } },
];
const succeeded: BuildEvent = {
  type: "done",
  build: { ...build, state: "succeeded", imageId: "sha256:abc", endedAt: "2026-01-01T00:00:04.500Z" },
  image,
};
const failed: BuildEvent = {
  type: "done",
  build: {
    ...build,
    state: "failed",
    endedAt: "2026-01-01T00:00:04.500Z",
    failure: {
      step: 2,
      text: "RUN make",
      source: { file: "image.ts", line: 7, column: 4 },
      exitCode: 2,
      message: "step 2 failed with exit code 2",
      lastLines: ["cc -o x x.c", "x.c:1: error"],
    },
  },
  image: null,
};

function render(mode: ProgressMode, list: BuildEvent[]) {
  let err = "";
  let out = "";
  const view = new BuildProgress({
    mode,
    err: (t) => (err += t),
    out: (t) => (out += t),
    color: false,
    columns: 60,
    now: () => 0,
  });
  view.note("contexts: 1 (uploaded 1, 2.0 KB)");
  for (const ev of list) view.onEvent(ev);
  view.close();
  return { err, out, view };
}

describe("BuildProgress", () => {
  it("plain: a line per event, output prefixed, durations, and the summary", () => {
    const { err, out, view } = render("plain", [...events, succeeded]);
    expect(out).toBe("");
    expect(err).toBe(
      [
        "contexts: 1 (uploaded 1, 2.0 KB)",
        "building data-tools:latest (build bld-1, 3 steps)",
        "CACHED [1/3] ENV A=1",
        "[2/3] RUN apt-get install -y python3",
        "  | Reading package lists...",
        "  | 100%",
        "  | debconf: no frontend",
        "[2/3] done in 3.2s, layer 2.0 KB",
        "[3/3] COPY scripts/ /opt/app/scripts/",
        "[3/3] done in 120ms, layer 512 B",
        "built data-tools:latest in 4.5s (3 steps, 1 cached)",
        "  image  data-tools:latest",
        "  id     sha256:abc",
        "  size   3.0 MB",
        "",
      ].join("\n"),
    );
    expect(view.ended?.state).toBe("succeeded");
  });

  it("plain: the failure block names the step, source line, exit code and last lines", () => {
    const { err } = render("plain", [...events.slice(0, 5), failed]);
    expect(err).toContain("  | Reading pack\n");
    expect(err.trimEnd().split("\n").slice(-9)).toEqual([
      "error: build bld-1 of data-tools:latest failed at step 2/3",
      "  step:       RUN make",
      "  source:     image.ts:7:4",
      "  exit code:  2",
      "  reason:     step 2 failed with exit code 2",
      "  last lines:",
      "    | cc -o x x.c",
      "    | x.c:1: error",
      "  full log:   sbx image logs bld-1",
    ]);
  });

  it("json: the events pass through on stdout, one per line; only a failure goes to stderr", () => {
    const ok = render("json", [...events, succeeded]);
    expect(
      ok.out
        .trimEnd()
        .split("\n")
        .map((l) => JSON.parse(l) as unknown),
    ).toEqual([...events, succeeded]);
    expect(ok.err).toBe("");
    expect(render("json", [failed]).err).toMatch(/^error: build bld-1 .* failed at step 2\/3\n/);
  });

  it("quiet prints nothing but a failure; tty redraws a status line for the running step", () => {
    expect(render("quiet", [...events, succeeded]).err).toBe("");
    expect(render("quiet", [failed]).err).toContain("exit code:  2");
    const tty = render("tty", events.slice(0, 5)).err;
    expect(tty).toContain("⠋ [2/3] RUN apt-get install -y python3 0ms");
    expect(tty).toContain("\r\x1b[2K");
    expect(tty).toContain("  │ Reading pack");
  });

  it("formats durations", () => {
    expect([0, 999, 1000, 59_949, 60_000, 125_000].map(formatDuration)).toEqual([
      "0ms",
      "999ms",
      "1.0s",
      "59.9s",
      "1m00s",
      "2m05s",
    ]);
  });
});

// Floods aimed at the daemon itself (F4 of the second security round): a build step that prints
// far more than anyone reads. The daemon must keep a bounded head and tail of it (with a marker),
// keep its memory, and keep answering other API calls at about its idle speed while the flood
// flows. The latency bound is relative: 2x the same call's idle median, measured in the same run,
// idle and busy samples paced alike. Busy samples are taken from the step's first output to its
// end: the flood, not the making and removing of the step's sandbox that every build does. The
// flood reaches the daemon no faster than the step output budget (runtime/agent/output-meter.ts).
import { readFileSync, statSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Image, type BuildEvent } from "@sbx-sh/sdk";
import { sharedClient } from "../fixtures.js";
import { testDaemonRoot, waitFor } from "../harness.js";
import { busyLatency, idleLatency, median } from "./latency.js";

const client = sharedClient();
const ROOT = testDaemonRoot("shared");
const FLOOD_BYTES = 128 << 20;
// What the daemon keeps of one step: 1 MiB live, a 16 KiB tail and the marker (build-output caps).
const KEPT_MAX = (1 << 20) + (16 << 10) + 4096;

function rssKb(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]);
}

describe("a build step that floods its output", () => {
  // The latency bound is relative to idle latency measured in the same test; a busy moment of the
  // host can still skew one run, so the measurement gets two more tries. The failure it guards
  // against (a flood stalling the daemon) is orders of magnitude slower and fails every try.
  it("is kept as a capped head and tail, while the daemon's memory and API latency hold", { retry: 2 }, async () => {
    const pid = Number(readFileSync(join(ROOT, "run", "sbxd.pid"), "utf8").trim());
    const idle = await idleLatency(client);
    const rssBefore = rssKb(pid);

    // Each try floods anew: a name of its own and no layer cache (a cached step prints nothing).
    const name = `flood-${process.pid}-${Date.now()}`;
    const build = await new Image({ name })
      .run(`head -c ${FLOOD_BYTES} /dev/zero | tr '\\0' x; echo; echo the-last-line`)
      .startBuild({ client, noCache: true });
    const events: BuildEvent[] = [];
    const followed = (async () => {
      for await (const ev of client.buildEvents(build.id, { follow: true })) events.push(ev);
    })();
    await waitFor(() => events.some((e) => e.type === "log"), 120_000, "the step's first output");
    const floodStart = performance.now();
    let rssPeak = rssBefore;
    const busy = await busyLatency(
      client,
      () => events.some((e) => e.type === "step_done" || e.type === "done"),
      () => (rssPeak = Math.max(rssPeak, rssKb(pid))),
    );
    const floodMs = performance.now() - floodStart;
    await followed;
    expect(events.at(-1)).toMatchObject({ type: "done" });
    // Held to the step budget: the daemon read the flood no faster than 32 MiB/s past a 4 MiB burst. A
    // lower bound only, which load can never break: at full speed this flood takes well under a second.
    expect(floodMs).toBeGreaterThan(((FLOOD_BYTES - (4 << 20)) / (32 << 20)) * 1000 * 0.95);

    // The flood is not in memory: far less growth than the 128 MiB printed.
    expect(rssPeak - rssBefore).toBeLessThan(64 * 1024);
    expect(busy.length).toBeGreaterThan(5);
    expect(median(busy)).toBeLessThan(2 * median(idle));

    // A bounded head, the marker, and the tail with the step's last line.
    const logText = events.flatMap((e) => (e.type === "log" ? [e.data] : [])).join("");
    expect(logText.length).toBeLessThan(KEPT_MAX);
    expect(logText).toMatch(/\[sbx: \d+ bytes of this step's output were left out/);
    expect(logText).toMatch(/the-last-line\n$/);
    // The replay (from the log file, streamed) says the same; the file is bounded and not world-readable.
    const replayed: BuildEvent[] = [];
    for await (const ev of client.buildEvents(build.id)) replayed.push(ev);
    expect(replayed.length).toBe(events.length);
    const file = statSync(join(ROOT, "data", "builds", `${build.id}.ndjson`));
    expect(file.size).toBeLessThan(2 * KEPT_MAX);
    expect(file.mode & 0o777).toBe(0o640);
    await client.transport.empty("DELETE", `/v1/images/${name}`);
  });
});

// Terminal floods aimed at the daemon (F10 of the second security round): a sandbox prints as fast
// as it can on a terminal. Its terminals share a byte budget (runtime/agent/output-meter.ts); past
// it the daemon stops reading the sandbox's agent, so the writer blocks inside the sandbox. The
// client gets no more than the budget allows, and other API calls keep about their idle latency
// (relative bound: 2x the same call's idle median, measured in the same run, idle and busy samples
// paced alike).
import { performance } from "node:perf_hooks";
import { describe, expect, it } from "vitest";
import { sharedClient, useSandbox } from "../fixtures.js";
import { waitFor } from "../harness.js";
import { busyLatency, idleLatency, median } from "./latency.js";

const client = sharedClient();
const sandbox = useSandbox();
// The budget of runtime/agent/output-meter.ts, and what may sit in buffers on the way (the agent's
// 1 MiB per connection plus one read of the socket).
const RATE = 1 << 20;
const BURST = 256 << 10;
const SLACK = (1 << 20) + (64 << 10);
const FLOOD_MS = 4000;
const TERMINALS = 8;

describe("a terminal that floods its output", () => {
  // The latency bound is relative to idle latency measured in the same test; a busy moment of the
  // host can still skew one run, so the measurement gets two more tries. The failure it guards
  // against (a flood stalling the daemon) is orders of magnitude slower and fails every try.
  it("is held to the sandbox's budget while other API calls keep their idle latency", { retry: 2 }, async () => {
    const sb = sandbox();
    const idle = await idleLatency(client);

    // Several terminals at once: the budget is the sandbox's, not each terminal's.
    const terms = await Promise.all(Array.from({ length: TERMINALS }, () => sb.createTerminal({ cols: 80, rows: 24 })));
    let text = "";
    let bytes = 0;
    for (const t of terms)
      t.onData((d) => {
        bytes += d.length;
        if (text.length < 4096) text += d.toString("utf8");
      });
    await new Promise((r) => setTimeout(r, 500));
    for (const t of terms) t.write("yes 0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\r");
    await waitFor(() => (bytes > 64 << 10 ? true : undefined), 30_000, "the flood to start");
    const start = performance.now();
    const base = bytes;
    const busy = await busyLatency(client, () => performance.now() - start >= FLOOD_MS);
    const elapsed = performance.now() - start;
    const got = bytes - base;
    await Promise.all(terms.map((t) => t.kill().catch(() => undefined)));

    expect(busy.length).toBeGreaterThan(5);
    expect(median(busy)).toBeLessThan(2 * median(idle));
    // Flooding, and held to the budget: never more than the rate over the time, plus burst and buffers.
    expect(text).toContain("0123456789abcdefghijklmnopqrstuvwxyz");
    expect(got).toBeGreaterThan(0);
    expect(got).toBeLessThan(BURST + SLACK + (RATE * elapsed) / 1000);
  });
});

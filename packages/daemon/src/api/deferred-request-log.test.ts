// The fast path's request lines: written after the calls, a batch at once (within the delay, or at
// once when the batch is full, or on flush), each as logRequest would have written it, in order.
import { describe, expect, it, vi } from "vitest";
import { DeferredRequestLog } from "./deferred-request-log.js";
import type { RequestLine } from "./request-log.js";

const line = (n: number, status = 200): RequestLine => ({
  req: `req_${n}`,
  method: "POST",
  route: "/v1/sandboxes/:id/exec",
  status,
  seconds: 0.0042,
  project: "default",
  fast: true,
});

function setup(delayMs: number, max = 256) {
  const log = { info: vi.fn(), warn: vi.fn(), error: vi.fn() };
  return { log, lines: new DeferredRequestLog(log, undefined, delayMs, max) };
}

describe("deferred request log", () => {
  it("writes nothing during the call, then every line within the delay, in order, as logRequest writes it", async () => {
    const { log, lines } = setup(30);
    lines.add(line(1));
    lines.add(line(2, 502));
    expect(log.info).not.toHaveBeenCalled();
    expect(lines.pending).toBe(2);
    await vi.waitFor(() => expect(lines.pending).toBe(0), { timeout: 2000 });
    expect(log.info.mock.calls).toEqual([
      [
        {
          req: "req_1",
          method: "POST",
          route: "/v1/sandboxes/:id/exec",
          status: 200,
          ms: 4.2,
          project: "default",
          fast: true,
        },
        "request",
      ],
    ]);
    expect(log.warn.mock.calls).toEqual([
      [
        {
          req: "req_2",
          method: "POST",
          route: "/v1/sandboxes/:id/exec",
          status: 502,
          ms: 4.2,
          project: "default",
          fast: true,
        },
        "request",
      ],
    ]);
  });

  it("writes a full batch at once, and what waits on flush (once)", async () => {
    const { log, lines } = setup(60_000, 3);
    lines.add(line(1));
    lines.add(line(2));
    expect(log.info).toHaveBeenCalledTimes(0);
    lines.add(line(3));
    expect(log.info.mock.calls.map(([l]) => (l as { req: string }).req)).toEqual(["req_1", "req_2", "req_3"]);
    lines.add(line(4));
    lines.flush();
    expect(log.info).toHaveBeenCalledTimes(4);
    lines.flush();
    await new Promise((r) => setTimeout(r, 20));
    expect(log.info).toHaveBeenCalledTimes(4);
    expect(lines.pending).toBe(0);
  });
});

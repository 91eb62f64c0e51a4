// POST /v1/sandboxes/{id}/exec on fake services: the NDJSON stream, and a plain JSON error when the
// process cannot start.
import { describe, expect, it } from "vitest";
import { expectError, setupApp as setup } from "./testing/fake-app.js";

describe("POST /v1/sandboxes/{id}/exec", () => {
  it("streams started, then output, then exit as NDJSON", async () => {
    const t = setup("unix");
    const res = await t.app.request("/v1/sandboxes/sb-1/exec", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ command: "echo", args: ["hi"] }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/x-ndjson/);
    const text = await res.text();
    expect(text.endsWith("\n")).toBe(true);
    const events = text
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as { type: string; [k: string]: unknown });
    expect(events.map((e) => e.type)).toEqual(["started", "stdout", "stderr", "exit"]);
    const { hostPid: _h, deadline: _d, ...apiProcess } = t.proc;
    expect(events[0]).toEqual({ type: "started", process: apiProcess });
    expect(Buffer.from(String(events[1]!.data), "base64").toString()).toBe("hi\n");
    expect(Buffer.from(String(events[2]!.data), "base64").toString()).toBe("warn\n");
    expect(events[3]).toEqual({ type: "exit", exitCode: 0, signal: null, timedOut: false });
    expect(t.processes.exec).toHaveBeenCalledWith(
      "default",
      "sb-1",
      { command: "echo", args: ["hi"] },
      expect.any(AbortSignal),
    );
  });

  it("answers a plain JSON error when the process cannot start", async () => {
    const t = setup("unix");
    expectError(
      await t.call("POST", "/v1/sandboxes/nope/exec", { json: { command: "echo" } }),
      404,
      "sandbox_not_found",
    );
    expect(t.processes.exec).toHaveBeenCalledTimes(1);
    expect(t.processes.output).not.toHaveBeenCalled();
  });
});

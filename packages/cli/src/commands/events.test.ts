import { describe, expect, it } from "vitest";
import type { SbxEvent } from "@sbx-sh/protocol";
import { formatEvent, parseFilter } from "./events.js";

describe("sbx events", () => {
  it("accumulates type filters and takes one sandbox", () => {
    const f = parseFilter("sandbox=sb-1", parseFilter("type=build,image", parseFilter("type=sandbox")));
    expect(f).toEqual({ type: ["sandbox", "build", "image"], sandbox: "sb-1" });
    expect(() => parseFilter("colour=red")).toThrow(/type=<event type> or sandbox=<id>/);
  });

  it("prints one line per event, with control characters from a sandbox made harmless", () => {
    const e: SbxEvent = {
      id: 7,
      time: "2026-01-01T00:00:00.000Z",
      type: "process.exited",
      project: "default",
      subject: "pr-1",
      sandboxId: "sb-1",
      attributes: { command: "evil\u001b[2Jname", exitCode: 3, signal: null },
    };
    const line = formatEvent(e);
    expect(line).toBe("2026-01-01T00:00:00.000Z process.exited pr-1 sandbox=sb-1 command=evil?[2Jname exitCode=3");
    expect(line).not.toContain("\u001b");
  });
});

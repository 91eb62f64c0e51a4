// Unit tests of the lifecycle events: listeners run in order and are awaited, errors reach the emitter.
import { describe, expect, it } from "vitest";
import type { SandboxRecord } from "../domain/records.js";
import { SandboxEvents } from "./sandbox-events.js";

const sb = { id: "sb-1", status: "terminated" } as SandboxRecord;

describe("SandboxEvents", () => {
  it("runs an event's listeners one after another and awaits them", async () => {
    const events = new SandboxEvents();
    const seen: string[] = [];
    events.on("ended", async (s) => {
      await new Promise((r) => setTimeout(r, 5));
      seen.push(`first ${s.id}`);
    });
    events.onGone((s) => void seen.push(`gone ${s.id}`));
    events.on("suspended", () => void seen.push("suspended only"));
    await events.emit("ended", sb);
    expect(seen).toEqual(["first sb-1", "gone sb-1"]);
    await events.emit("suspended", { ...sb, status: "suspended" });
    expect(seen).toEqual(["first sb-1", "gone sb-1", "gone sb-1", "suspended only"]);
  });

  it("a failing listener fails the emit", async () => {
    const events = new SandboxEvents();
    events.on("ended", () => {
      throw new Error("store is gone");
    });
    await expect(events.emit("ended", sb)).rejects.toThrow("store is gone");
  });
});

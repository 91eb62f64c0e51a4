// The services publish the lifecycle on the bus: suspend and resume (told apart from a first
// start), snapshots, process exits with their code, and terminations with their reason.
import { afterEach, describe, expect, it } from "vitest";
import type { SbxEvent } from "@sbx-sh/protocol";
import { eventually, startServices, type ServiceHarness } from "./testing/service-harness.js";

let h: ServiceHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe("events published by the services", () => {
  it("publishes suspend, resume, snapshot, process exit and termination with its reason", async () => {
    h = await startServices();
    const seen: SbxEvent[] = [];
    h.bus.onEvent((e) => seen.push(e));
    const sb = await h.sandboxes.create("default", { name: "evt" });
    const p = await h.processes.start("default", sb.id, { command: "sh", args: ["-c", "exit 4"] });
    await eventually(() => seen.some((e) => e.type === "process.exited" && e.subject === p.id));
    await h.sandboxes.snapshot("default", sb.id);
    await h.sandboxes.suspend("default", sb.id);
    await h.sandboxes.resume("default", sb.id);
    await h.sandboxes.terminate("default", sb.id);
    const mine = seen.filter((e) => e.sandboxId === sb.id);
    expect(mine.map((e) => e.type)).toEqual([
      "sandbox.created",
      "sandbox.running",
      "process.started",
      "process.exited",
      "snapshot.taken",
      "snapshot.taken",
      "sandbox.suspended",
      "sandbox.resumed",
      "sandbox.terminated",
    ]);
    expect(mine.find((e) => e.type === "process.exited")!.attributes.exitCode).toBe(4);
    expect(mine.find((e) => e.type === "sandbox.suspended")!.attributes.reason).toBe("requested");
    expect(mine.find((e) => e.type === "sandbox.terminated")!.attributes.reason).toBe("requested");
    expect(mine.filter((e) => e.type === "snapshot.taken").map((e) => e.attributes.forSuspend)).toEqual([false, true]);
  });
});

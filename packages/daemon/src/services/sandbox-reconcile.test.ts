// The sandbox lifecycle's reconcile at daemon start, on the fake runtime: a restarted daemon keeps
// the sandboxes the runtime still runs (their processes and timeouts too), records the lost ones
// as died, finishes a suspend the old daemon died in, puts back a resume it died in (the files are in
// the suspend snapshot, which a death would delete), and removes what no record owns.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FAKE_BASE } from "../runtime/testing/fake-runtime.js";
import { eventually, readText, startServices, writeText, type ServiceHarness } from "./testing/service-harness.js";

let h: ServiceHarness;
beforeEach(async () => {
  h = await startServices();
});
afterEach(async () => {
  await h.close();
});

const P = "default";

describe("SandboxService.reconcile at daemon start", () => {
  it("keeps what still runs, with its processes; a sandbox the runtime lost ends as died", async () => {
    const kept = await h.sandboxes.create(P, {});
    const lost = await h.sandboxes.create(P, {});
    const p = await h.processes.start(P, kept.id, { command: "sh", args: ["-c", "sleep 0.3; echo after; exit 5"] });
    // The host lost it while no daemon ran (a reboot, an OOM of its init).
    h.runtime.sandboxes.delete(lost.id);
    h = await h.restart({ startup: false });
    const ended: string[] = [];
    h.events.on("ended", (s) => void ended.push(`${s.id} ${s.terminationReason}`));

    const r = await h.startup();
    expect(r).toMatchObject({ kept: [kept.id], ended: [lost.id], leaks: [], adopted: 1 });
    expect(await h.sandboxes.get(P, lost.id)).toMatchObject({
      status: "terminated",
      terminationReason: "died",
      netSlot: null,
    });
    expect(ended).toEqual([`${lost.id} died`]);
    expect((await h.sandboxes.get(P, kept.id)).status).toBe("running");
    await eventually(async () => (await h.processes.get(P, kept.id, p.id)).status === "exited");
    expect(await h.processes.get(P, kept.id, p.id)).toMatchObject({ exitCode: 5 });
    // The lost sandbox's slot is free; the kept one's is not.
    expect((await h.sandboxes.create(P, {})).netSlot).toBe(lost.netSlot);
  });

  it("ends a sandbox whose create the old daemon died in", async () => {
    const s = await h.sandboxes.create(P, {});
    await h.stores.meta.updateSandbox(s.id, { status: "pending" });
    h = await h.restart({ startup: false });
    expect((await h.startup()).ended).toEqual([s.id]);
    expect((await h.sandboxes.get(P, s.id)).terminationReason).toBe("died");
    expect(h.runtime.sandboxes.has(s.id)).toBe(false);
  });

  it("removes sandboxes no record owns (an old daemon's warm blanks)", async () => {
    await h.runtime.create({
      id: "sb-orphan",
      lowers: [FAKE_BASE],
      hostname: "sb-orphan",
      env: [],
      workingDir: "/",
      cpus: 1,
      memoryMb: 256,
      pidsLimit: 64,
      diskMb: 256,
      netSlot: 5,
    });
    const mine = await h.sandboxes.create(P, {});
    h = await h.restart({ startup: false });
    expect(await h.startup()).toMatchObject({ kept: [mine.id], leaks: ["container sb-orphan"] });
    expect([...h.runtime.sandboxes.keys()]).toEqual([mine.id]);
  });

  it("counts a kept sandbox's timeout from its start, not from the restart", async () => {
    const late = await h.sandboxes.create(P, { timeoutSecs: 2 });
    const overdue = await h.sandboxes.create(P, { timeoutSecs: 2 });
    // Started before the restart: 0.3 s left for one, past its deadline for the other.
    const ago = (ms: number): string => new Date(Date.now() - ms).toISOString();
    await h.stores.meta.updateSandbox(late.id, { startedAt: ago(1700) });
    await h.stores.meta.updateSandbox(overdue.id, { startedAt: ago(60_000) });
    h = await h.restart({ startup: false });
    expect((await h.startup()).kept.sort()).toEqual([late.id, overdue.id].sort());
    // Counted from the restart, either would take 2 s.
    for (const s of [overdue, late])
      await eventually(async () => (await h.sandboxes.get(P, s.id)).status === "terminated", 1000);
    expect((await h.sandboxes.get(P, late.id)).terminationReason).toBe("timeout");
  });

  it("finishes a suspend the old daemon died in: the record stays suspended, the host lets go", async () => {
    const s = await h.sandboxes.create(P, { name: "half" });
    // Recorded suspended, killed before the release: container and slot are still there.
    await h.stores.meta.updateSandbox(s.id, { status: "suspended" });
    h = await h.restart({ startup: false });
    const suspended: string[] = [];
    h.events.on("suspended", (x) => void suspended.push(x.id));
    const r = await h.startup();
    expect(r).toMatchObject({ kept: [], ended: [] });
    expect(suspended).toEqual([s.id]);
    expect(h.runtime.sandboxes.has(s.id)).toBe(false);
    expect(await h.sandboxes.get(P, s.id)).toMatchObject({ status: "suspended", netSlot: null });
  });

  it("puts back to suspended, files kept, a sandbox whose resume the old daemon died in, before or after its start", async () => {
    for (const at of ["before its container started", "after it was recorded running"]) {
      const s = await h.sandboxes.create(P, { name: `resuming-${at.length}` });
      await writeText(h, s.id, "/work/state.txt", "kept across the suspend\n");
      await h.sandboxes.suspend(P, s.id);
      const create = h.runtime.create.bind(h.runtime);
      const { stores } = h;
      h.runtime.create =
        at === "before its container started"
          ? () => new Promise(() => undefined)
          : async (spec) => {
              const made = await create(spec);
              // The daemon dies once the sandbox is recorded running, before its resume is written down.
              stores.meta.transaction = () => new Promise(() => undefined);
              return made;
            };
      void h.sandboxes.resume(P, s.id).catch(() => undefined);
      const mid = at === "before its container started" ? "pending" : "running";
      await eventually(async () => (await h.stores.meta.getSandbox(s.id))?.status === mid);
      h.runtime.create = create;
      h = await h.restart({ killed: true });

      expect(await h.sandboxes.get(P, s.id), at).toMatchObject({ status: "suspended", netSlot: null });
      expect(h.runtime.sandboxes.has(s.id), at).toBe(false);
      await h.sandboxes.resume(P, s.id);
      expect(await readText(h, s.id, "/work/state.txt"), at).toBe("kept across the suspend\n");
    }
  });
});

// SandboxService on the fake runtime, wired as the daemon wires it: what a create hands the runtime
// (limits, env, network slot), names and project scope, terminate and its event, timeouts, a
// failed create, and the state machine as the one way a status changes.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SbxError } from "@sbx-sh/protocol";
import { DEFAULT_RESOURCES, LIMITS } from "../domain/limits.js";
import type { SandboxRecord } from "../domain/records.js";
import { canTransition, type SandboxStatus } from "../domain/sandbox-state.js";
import { FAKE_BASE } from "../runtime/testing/fake-runtime.js";
import type { MetaOps } from "../store/store.js";
import { eventually, startServices, type ServiceHarness } from "./testing/service-harness.js";

let h: ServiceHarness;
beforeEach(async () => {
  h = await startServices();
});
afterEach(async () => {
  await h.close();
});

const P = "default";
const status = async (id: string): Promise<SandboxRecord> => (await h.stores.meta.getSandbox(id))!;

describe("SandboxService: create", () => {
  it("hands the runtime the record's limits, the image env merged with the sandbox's, and a network slot", async () => {
    const s = await h.sandboxes.create(P, {
      cpus: 2,
      memoryMb: 2048,
      pidsLimit: 300,
      diskMb: 5000,
      env: { LANG: "en_US.UTF-8", APP: "web" },
    });
    expect(s).toMatchObject({ status: "running", image: "fake-base", cpus: 2, memoryMb: 2048, netSlot: 0 });
    expect(s.ipAddress).toBe(h.runtime.sandboxes.get(s.id)!.ipAddress);
    const spec = h.runtime.sandboxes.get(s.id)!.spec;
    expect(spec).toMatchObject({ id: s.id, hostname: s.id, lowers: [FAKE_BASE], cpus: 2, memoryMb: 2048 });
    expect(spec).toMatchObject({ pidsLimit: 300, diskMb: 5000, netSlot: 0, workingDir: "/" });
    // The sandbox's LANG replaces the image's; PATH stays the image's.
    expect(spec.env).toEqual(["PATH=/usr/local/bin:/usr/bin:/bin", "LANG=en_US.UTF-8", "APP=web"]);
    expect(h.runtime.calls).toContain(`create ${s.id}`);
  });

  it("fills in the default limits, and a named sandbox's hostname is its name", async () => {
    const s = await h.sandboxes.create(P, { name: "web" });
    expect(s).toMatchObject({ ...DEFAULT_RESOURCES, timeoutSecs: LIMITS.timeoutSecs.default });
    expect(h.runtime.sandboxes.get(s.id)!.spec).toMatchObject({ ...DEFAULT_RESOURCES, hostname: "web" });
  });

  it("gives each networked sandbox its own slot, none to an offline one, and frees a slot at terminate", async () => {
    const a = await h.sandboxes.create(P, {});
    const b = await h.sandboxes.create(P, {});
    const offline = await h.sandboxes.create(P, { allowInternetAccess: false });
    expect([a.netSlot, b.netSlot, offline.netSlot]).toEqual([0, 1, null]);
    expect(h.runtime.sandboxes.get(offline.id)!.spec.netSlot).toBeNull();
    await h.sandboxes.terminate(P, a.id);
    expect((await status(a.id)).netSlot).toBeNull();
    expect((await h.sandboxes.create(P, {})).netSlot).toBe(0);
  });

  it("refuses egress lists for a sandbox without network", async () => {
    await expect(h.sandboxes.create(P, { allowInternetAccess: false, allowOut: ["10.0.0.1"] })).rejects.toMatchObject({
      code: "invalid_argument",
    });
    expect(h.runtime.sandboxes.size).toBe(0);
  });

  it("keeps names unique per project among live sandboxes", async () => {
    const web = await h.sandboxes.create(P, { name: "web" });
    await expect(h.sandboxes.create(P, { name: "web" })).rejects.toMatchObject({ code: "already_exists" });
    // The refused create holds no slot and started nothing.
    expect(h.runtime.sandboxes.size).toBe(1);
    expect((await h.sandboxes.create("other", { name: "web" })).name).toBe("web");
    await h.sandboxes.terminate(P, "web");
    expect((await h.sandboxes.create(P, { name: "web" })).id).not.toBe(web.id);
  });

  it("leaves nothing behind when the runtime cannot start the sandbox", async () => {
    h.runtime.failures.set("create", new SbxError("runtime_error", "crun said no"));
    await expect(h.sandboxes.create(P, { name: "doomed" })).rejects.toThrow("crun said no");
    const [rec] = await h.sandboxes.list(P, true);
    expect(rec).toMatchObject({ name: "doomed", status: "terminated", terminationReason: "error", netSlot: null });
    expect(await h.sandboxes.list(P, false)).toEqual([]);
    expect(h.runtime.sandboxes.size).toBe(0);
    // Its slot and its name are free again.
    const next = await h.sandboxes.create(P, { name: "doomed" });
    expect(next.netSlot).toBe(0);
  });
});

describe("SandboxService: lookups", () => {
  it("finds a sandbox by id or name only in its own project", async () => {
    const mine = await h.sandboxes.create(P, { name: "mine" });
    const theirs = await h.sandboxes.create("other", {});
    expect((await h.sandboxes.get(P, "mine")).id).toBe(mine.id);
    expect((await h.sandboxes.get(P, mine.id)).name).toBe("mine");
    await expect(h.sandboxes.get(P, theirs.id)).rejects.toMatchObject({ code: "sandbox_not_found" });
    await expect(h.sandboxes.get("other", "mine")).rejects.toMatchObject({ code: "sandbox_not_found" });
    expect((await h.sandboxes.list(P, false)).map((s) => s.id)).toEqual([mine.id]);
    expect((await h.sandboxes.list("other", false)).map((s) => s.id)).toEqual([theirs.id]);
  });

  it("lists terminated sandboxes only when asked", async () => {
    const gone = await h.sandboxes.create(P, {});
    const live = await h.sandboxes.create(P, {});
    await h.sandboxes.terminate(P, gone.id);
    expect((await h.sandboxes.list(P, false)).map((s) => s.id)).toEqual([live.id]);
    expect((await h.sandboxes.list(P, true)).map((s) => s.id).sort()).toEqual([gone.id, live.id].sort());
  });
});

describe("SandboxService: terminate and timeouts", () => {
  it("terminates: the record says why, the runtime's sandbox and processes are gone, `ended` is emitted once", async () => {
    const ended: string[] = [];
    h.events.on("ended", (s) => void ended.push(`${s.id} ${s.status}`));
    const s = await h.sandboxes.create(P, {});
    const p = await h.processes.start(P, s.id, { command: "sleep", args: ["30"] });
    const done = await h.sandboxes.terminate(P, s.id);
    expect(done).toMatchObject({ status: "terminated", terminationReason: "requested", netSlot: null });
    expect(done.terminatedAt).not.toBeNull();
    expect(h.runtime.sandboxes.has(s.id)).toBe(false);
    expect(h.runtime.calls).toContain(`destroy ${s.id}`);
    expect(ended).toEqual([`${s.id} terminated`]);
    expect(await h.processes.get(P, s.id, p.id)).toMatchObject({ status: "exited", exitCode: 137 });
    // Terminating again is a no-op that answers the record as it is (DELETE is idempotent).
    await expect(h.sandboxes.terminate(P, s.id)).resolves.toMatchObject({ terminatedAt: done.terminatedAt });
    await expect(h.sandboxes.getRunning(P, s.id)).rejects.toMatchObject({ code: "sandbox_not_running" });
    expect(ended).toHaveLength(1);
  });

  it("ends an ephemeral sandbox at its timeout and suspends a named one", async () => {
    const ephemeral = await h.sandboxes.create(P, { timeoutSecs: 1 });
    const named = await h.sandboxes.create(P, { name: "kept", timeoutSecs: 1 });
    const endless = await h.sandboxes.create(P, { timeoutSecs: 0 });
    await eventually(async () => (await status(ephemeral.id)).status === "terminated");
    await eventually(async () => (await status(named.id)).status === "suspended");
    expect(await status(ephemeral.id)).toMatchObject({ terminationReason: "timeout" });
    expect(await status(named.id)).toMatchObject({ terminationReason: "suspended at timeout", netSlot: null });
    expect(h.runtime.sandboxes.has(ephemeral.id)).toBe(false);
    expect(h.runtime.sandboxes.has(named.id)).toBe(false);
    expect((await status(endless.id)).status).toBe("running");
  });
});

describe("SandboxService: the state machine", () => {
  /** Every status write through the store (and its transactions), as [from, to]. */
  function statusMoves(): Array<[SandboxStatus, SandboxStatus]> {
    const moves: Array<[SandboxStatus, SandboxStatus]> = [];
    const watched = new WeakSet<object>();
    const watch = (ops: MetaOps): void => {
      if (watched.has(ops)) return;
      watched.add(ops);
      const update = ops.updateSandbox.bind(ops);
      ops.updateSandbox = async (id, patch) => {
        if (patch.status) moves.push([(await ops.getSandbox(id))!.status, patch.status]);
        return update(id, patch);
      };
    };
    const store = h.stores.meta;
    watch(store);
    const transaction = store.transaction.bind(store);
    store.transaction = (fn) => transaction((tx) => (watch(tx), fn(tx)));
    return moves;
  }

  it("changes a status only by moves the state machine allows, through a whole lifecycle", async () => {
    const moves = statusMoves();
    const s = await h.sandboxes.create(P, { name: "life" });
    await h.sandboxes.suspend(P, "life");
    await h.sandboxes.resume(P, "life");
    await h.sandboxes.terminate(P, "life");
    h.runtime.failures.set("create", new Error("no"));
    await expect(h.sandboxes.create(P, {})).rejects.toThrow("no");
    expect(moves).toEqual([
      ["pending", "running"],
      ["running", "suspended"],
      ["suspended", "pending"],
      ["pending", "running"],
      ["running", "terminated"],
      ["pending", "terminated"],
    ]);
    expect(moves.every(([from, to]) => canTransition(from, to))).toBe(true);
    expect((await status(s.id)).status).toBe("terminated");
  });

  it("refuses what would need a move the state machine does not have, writing nothing", async () => {
    const named = await h.sandboxes.create(P, { name: "n" });
    const unnamed = await h.sandboxes.create(P, {});
    await h.sandboxes.terminate(P, named.id);
    const moves = statusMoves();
    await expect(h.sandboxes.resume(P, named.id)).rejects.toMatchObject({ code: "failed_precondition" });
    await expect(h.sandboxes.resume(P, unnamed.id)).resolves.toMatchObject({ status: "running" });
    await expect(h.sandboxes.suspend(P, unnamed.id)).rejects.toMatchObject({ code: "failed_precondition" });
    await expect(h.sandboxes.terminate(P, named.id)).resolves.toMatchObject({ status: "terminated" });
    await expect(h.sandboxes.snapshot(P, named.id)).rejects.toMatchObject({ code: "sandbox_not_running" });
    expect(moves).toEqual([]);
    expect((await status(named.id)).status).toBe("terminated");
  });
});

// WarmPool on the fake runtime, through SandboxService as the daemon uses it: the pool fills to its
// size (networked and offline blanks), a create claims a blank and the pool refills, blanks are
// not served where they do not fit, a failed claim leaves nothing, and closing releases them all.
import { afterEach, describe, expect, it } from "vitest";
import { SbxError } from "@sbx-sh/protocol";
import { eventually, startServices, type ServiceHarness } from "./testing/service-harness.js";

let h: ServiceHarness;
afterEach(async () => {
  await h.close();
});

const P = "default";
const blanks = (): Array<{ id: string; netSlot: number | null }> =>
  [...h.runtime.sandboxes.values()].map((s) => ({ id: s.spec.id, netSlot: s.spec.netSlot }));

async function filled(size: number): Promise<ServiceHarness> {
  h = await startServices({ warmPool: size });
  await eventually(() => h.pool.available === 2 * size);
  return h;
}

/** Holds the runtime's creates until release(), as a slow host would; counts them. */
function holdCreates(): { inFlight: string[]; made: string[]; most: number; release: () => void } {
  let release = (): void => undefined;
  const held = new Promise<void>((r) => (release = r));
  const create = h.runtime.create.bind(h.runtime);
  const gate = { inFlight: [] as string[], made: [] as string[], most: 0, release: () => release() };
  h.runtime.create = async (spec) => {
    gate.inFlight.push(spec.id);
    gate.made.push(spec.id);
    gate.most = Math.max(gate.most, gate.inFlight.length);
    try {
      await held;
      return await create(spec);
    } finally {
      gate.inFlight.splice(gate.inFlight.indexOf(spec.id), 1);
    }
  };
  return gate;
}

describe("WarmPool", () => {
  it("fills to its size: that many blanks with a network and that many without", async () => {
    await filled(2);
    const all = blanks();
    expect(all).toHaveLength(4);
    expect(all.filter((b) => b.netSlot !== null).map((b) => b.netSlot)).toEqual([0, 1]);
    expect(all.filter((b) => b.netSlot === null)).toHaveLength(2);
    // Blanks are not sandboxes anyone owns.
    expect(await h.sandboxes.list(P, true)).toEqual([]);
    // Their slots are reserved: a sandbox made without the pool gets the next one.
    expect((await h.sandboxes.create(P, { name: "named" })).netSlot).toBe(2);
  });

  it("serves a create from a blank, reconfigured to the sandbox's spec, and refills", async () => {
    await filled(1);
    const [networked] = blanks().filter((b) => b.netSlot !== null);
    const since = h.runtime.calls.length;
    const s = await h.sandboxes.create(P, { cpus: 3, env: { WHO: "me" } });
    expect(s).toMatchObject({ id: networked!.id, netSlot: networked!.netSlot, status: "running" });
    expect(h.runtime.calls.slice(since)).toContain(`reconfigure ${s.id}`);
    expect(h.runtime.calls.slice(since)).not.toContain(`create ${s.id}`);
    expect(h.runtime.sandboxes.get(s.id)!.spec).toMatchObject({ cpus: 3, hostname: s.id });
    expect(h.runtime.sandboxes.get(s.id)!.spec.env).toContain("WHO=me");
    await eventually(() => h.pool.available === 2);
    // The refill's blank does not get the slot the sandbox holds now.
    const slots = blanks().map((b) => b.netSlot);
    expect(slots.filter((x) => x === s.netSlot)).toHaveLength(1);

    const offline = await h.sandboxes.create(P, { allowInternetAccess: false });
    expect(h.runtime.calls).toContain(`reconfigure ${offline.id}`);
    expect(offline.netSlot).toBeNull();
  });

  it("a create that finds the pool empty while a blank of its kind is being made waits for that blank", async () => {
    await filled(1);
    // The next blank's create is held until released, as a slow host would.
    let release = (): void => undefined;
    const held = new Promise<void>((r) => (release = r));
    const create = h.runtime.create.bind(h.runtime);
    const making: string[] = [];
    h.runtime.create = async (spec) => {
      making.push(spec.id);
      await held;
      return create(spec);
    };
    const first = await h.sandboxes.create(P, { allowInternetAccess: false });
    await eventually(() => making.length === 1);
    const second = h.sandboxes.create(P, { allowInternetAccess: false });
    // Only one caller waits per kind: a third create at the same time goes cold.
    await eventually(() => h.pool.waiters === 1);
    const third = h.sandboxes.create(P, { allowInternetAccess: false });
    await eventually(() => making.length === 2);
    release();
    const [s2, s3] = await Promise.all([second, third]);
    expect(first.id).not.toBe(making[0]);
    expect(s2.id).toBe(making[0]);
    expect(h.runtime.calls).toContain(`reconfigure ${s2.id}`);
    expect(s3.id).toBe(making[1]);
    expect(h.runtime.calls).not.toContain(`reconfigure ${s3.id}`);
  });

  it("makes two blanks of a kind side by side once it has none ready, each with its own waiter", async () => {
    await filled(2);
    const gate = holdCreates();
    await h.sandboxes.create(P, { allowInternetAccess: false });
    await h.sandboxes.create(P, { allowInternetAccess: false });
    // Dry: two offline blanks are on their way at once.
    await eventually(() => gate.inFlight.length === 2);
    const [a, b] = [
      h.sandboxes.create(P, { allowInternetAccess: false }),
      h.sandboxes.create(P, { allowInternetAccess: false }),
    ];
    await eventually(() => h.pool.waiters === 2);
    // A third create finds both blanks spoken for and goes cold.
    const cold = h.sandboxes.create(P, { allowInternetAccess: false });
    await eventually(() => gate.inFlight.length === 3);
    gate.release();
    const got = (await Promise.all([a, b, cold])).map((s) => s.id);
    expect(got.slice(0, 2).sort()).toEqual(gate.made.slice(0, 2).sort());
    expect(h.runtime.calls).not.toContain(`reconfigure ${got[2]}`);
    await eventually(() => h.pool.available === 4);
  });

  it("makes blanks one at a time while their kind still has one ready", async () => {
    h = await startServices({ warmPool: 3 });
    await eventually(() => h.pool.available === 6);
    const gate = holdCreates();
    await h.sandboxes.create(P, { allowInternetAccess: false });
    await h.sandboxes.create(P, { allowInternetAccess: false });
    await eventually(() => gate.inFlight.length === 1);
    gate.release();
    await eventually(() => h.pool.available === 6);
    expect(gate.made).toHaveLength(2);
    expect(gate.most).toBe(1);
  });

  it("does not serve named sandboxes or sandboxes from snapshots", async () => {
    await filled(1);
    const named = await h.sandboxes.create(P, { name: "web" });
    expect(h.runtime.calls).toContain(`create ${named.id}`);
    const snap = await h.sandboxes.snapshot(P, named.id);
    const restored = await h.sandboxes.create(P, { snapshotId: snap.id });
    expect(h.runtime.calls).toContain(`create ${restored.id}`);
    expect(h.pool.available).toBe(2);
  });

  it("destroys a blank whose reconfigure failed, and frees its slot", async () => {
    await filled(1);
    const [networked] = blanks().filter((b) => b.netSlot !== null);
    h.runtime.failures.set("reconfigure", new SbxError("runtime_error", "cgroup write failed"));
    await expect(h.sandboxes.create(P, {})).rejects.toThrow("cgroup write failed");
    expect(h.runtime.sandboxes.has(networked!.id)).toBe(false);
    expect(await h.sandboxes.get(P, networked!.id)).toMatchObject({ status: "terminated", netSlot: null });
    await eventually(() => h.pool.available === 2);
  });

  it("releases every blank and its slot on close", async () => {
    await filled(1);
    const mine = await h.sandboxes.create(P, { name: "mine" });
    await eventually(() => h.pool.available === 2);
    await h.pool.close();
    expect(h.pool.available).toBe(0);
    expect([...h.runtime.sandboxes.keys()]).toEqual([mine.id]);
    // The blanks' slots are free: the lowest one no record holds is handed out again.
    expect(mine.netSlot).toBe(1);
    expect((await h.sandboxes.create(P, {})).netSlot).toBe(0);
  });

  it("removes a killed daemon's blanks at the next start and fills again", async () => {
    await filled(1);
    const old = blanks().map((b) => b.id);
    h = await h.restart({ warmPool: 1, killed: true });
    await eventually(() => h.pool.available === 2);
    const now = blanks().map((b) => b.id);
    expect(now.filter((id) => old.includes(id))).toEqual([]);
    expect(now).toHaveLength(2);
  });
});

// The node registry on the run's throwaway PostgreSQL: credentials (hashed, refused when wrong or
// revoked), registration and heartbeats, leases on the database's clock (a node's own clock does
// not matter), `lost` on expiry and back by registering again, state changes and bad input.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { SbxError } from "@sbx-sh/protocol";
import { openClusterDb, type ClusterDb } from "./cluster-db.js";
import { hashNodeToken, NodeRegistry } from "./node-registry.js";
import { Placer } from "./placement.js";
import { digest, report } from "../testing/cluster-kit.js";
import { freshSchema, pgTestUrl } from "../testing/pg-test.js";

let db: ClusterDb;
beforeAll(async () => {
  db = await openClusterDb({ url: pgTestUrl(), schema: freshSchema("nodes") });
});
afterAll(() => db.close());

const code = async (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => "ok",
    (e: unknown) => (e instanceof SbxError ? e.code : `not an SbxError: ${String(e)}`),
  );

describe("NodeRegistry", () => {
  it("issues a credential once and keeps only its hash", async () => {
    const reg = new NodeRegistry(db.pool);
    const { token } = await reg.add("cred-1", { zone: "a" });
    const { rows } = await db.pool.query("SELECT token_hash FROM nodes WHERE name = 'cred-1'");
    expect(rows[0].token_hash).toBe(hashNodeToken(token));
    expect(JSON.stringify(rows)).not.toContain(token);
    expect(await code(reg.add("cred-1"))).toBe("already_exists");
  });

  it("registers a node with its credential: ready, with capacity, layers and a lease", async () => {
    const reg = new NodeRegistry(db.pool, { leaseSecs: 30 });
    const { token } = await reg.add("reg-1", { zone: "b" });
    expect((await reg.list()).find((n) => n.name === "reg-1")).toMatchObject({ state: "new", leaseSecsLeft: null });
    expect(await reg.register(token, report(4, 8192, [digest(1), digest(2)]))).toEqual({
      name: "reg-1",
      leaseSecs: 30,
    });
    const node = (await reg.list()).find((n) => n.name === "reg-1")!;
    expect(node).toMatchObject({
      state: "ready",
      labels: { zone: "b" },
      address: "10.0.0.1:7070",
      capacity: { cpus: 4, memoryMb: 8192 },
      allocated: { cpus: 0, memoryMb: 0, sandboxes: 0 },
      layers: 2,
    });
    expect(node.leaseSecsLeft).toBeGreaterThan(0);
    expect(node.leaseSecsLeft).toBeLessThanOrEqual(30);
  });

  it("refuses a wrong or revoked credential and changes nothing", async () => {
    const reg = new NodeRegistry(db.pool);
    const { token } = await reg.add("rev-1");
    expect(await code(reg.register("sbxn_wrong", report(1, 512)))).toBe("unauthenticated");
    await reg.register(token, report(1, 512));
    await reg.setState("rev-1", "revoked");
    expect(await code(reg.heartbeat(token, report(1, 512)))).toBe("unauthenticated");
    expect(await code(reg.register(token, report(1, 512)))).toBe("unauthenticated");
    expect((await reg.list()).find((n) => n.name === "rev-1")?.state).toBe("revoked");
  });

  it("refuses bad names, labels and reports with invalid_argument, storing nothing", async () => {
    const reg = new NodeRegistry(db.pool);
    expect(await code(reg.add("Bad Name"))).toBe("invalid_name");
    expect(await code(reg.add("lbl-1", { "bad key!": "x" }))).toBe("invalid_argument");
    const { token } = await reg.add("bad-1");
    expect(await code(reg.register(token, report(0, 512)))).toBe("invalid_argument");
    expect(await code(reg.register(token, { ...report(1, 512), layers: ["nope"] }))).toBe("invalid_argument");
    expect(await code(reg.register(token, { ...report(1, 512), address: "" }))).toBe("invalid_argument");
    const names = (await reg.list()).map((n) => n.name);
    expect(names).not.toContain("lbl-1");
    expect((await reg.list()).find((n) => n.name === "bad-1")?.state).toBe("new");
  });

  it("runs leases on the database's clock: a node whose own clock is a year off keeps its lease", async () => {
    const reg = new NodeRegistry(db.pool, { leaseSecs: 60 });
    const { token } = await reg.add("skew-1");
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      vi.setSystemTime(new Date(Date.now() - 365 * 86400_000));
      await reg.register(token, report(2, 1024));
      await reg.heartbeat(token, report(2, 1024));
      vi.setSystemTime(new Date(Date.now() + 2 * 365 * 86400_000));
      await reg.heartbeat(token, report(2, 1024));
    } finally {
      vi.useRealTimers();
    }
    expect(await reg.expireLeases()).not.toContain("skew-1");
    const node = (await reg.list()).find((n) => n.name === "skew-1")!;
    expect(node.state).toBe("ready");
    // Neither a year short nor a year long: the database's 60 s.
    expect(node.leaseSecsLeft).toBeGreaterThan(50);
    expect(node.leaseSecsLeft).toBeLessThanOrEqual(60);
  });

  it("makes a node lost when its lease runs out; it comes back only by registering again", async () => {
    const reg = new NodeRegistry(db.pool, { leaseSecs: 0.2 });
    const { token } = await reg.add("lease-1");
    await reg.register(token, report(2, 1024));
    // Wait on the database's clock, not ours: until it says the lease is over.
    for (;;) {
      const { rows } = await db.pool.query("SELECT now() > lease_expires_at AS over FROM nodes WHERE name = 'lease-1'");
      if (rows[0].over) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(await reg.expireLeases()).toContain("lease-1");
    expect((await reg.list()).find((n) => n.name === "lease-1")?.state).toBe("lost");
    expect(await reg.expireLeases()).not.toContain("lease-1");
    expect(await code(reg.heartbeat(token, report(2, 1024)))).toBe("failed_precondition");
    expect(await code(reg.setState("lease-1", "ready"))).toBe("failed_precondition");
    await new NodeRegistry(db.pool, { leaseSecs: 30 }).register(token, report(2, 1024));
    expect((await reg.list()).find((n) => n.name === "lease-1")?.state).toBe("ready");
  });

  it("cordons, drains and readies a node; unknown names are not_found", async () => {
    const reg = new NodeRegistry(db.pool);
    const { token } = await reg.add("cord-1");
    await reg.register(token, report(1, 512));
    await reg.setState("cord-1", "cordoned");
    // Registering again keeps an operator's cordon.
    await reg.register(token, report(1, 512));
    expect((await reg.list()).find((n) => n.name === "cord-1")?.state).toBe("cordoned");
    await reg.setState("cord-1", "draining");
    await reg.setState("cord-1", "ready");
    expect((await reg.list()).find((n) => n.name === "cord-1")?.state).toBe("ready");
    expect(await code(reg.setState("nope-1", "cordoned"))).toBe("not_found");
  });

  it("frees the room of sandboxes a node's report no longer lists, once older than a lease", async () => {
    const freed: string[] = [];
    const reg = new NodeRegistry(db.pool, { leaseSecs: 30, onFreed: (_n, ids) => freed.push(...ids) });
    const { token } = await reg.add("free-1", { pool: "free-1" });
    await reg.register(token, report(8, 8192));
    const placer = new Placer(db.pool);
    const place = (id: string) =>
      placer.place({ sandboxId: id, project: "p", cpus: 1, memoryMb: 512, layers: [], selector: { pool: "free-1" } });
    for (const id of ["sb-ended", "sb-live", "sb-young", "pending-x"]) await place(id);
    await db.pool.query(
      "UPDATE placements SET placed_at = now() - interval '1 hour' WHERE sandbox_id IN ('sb-ended', 'sb-live', 'pending-x')",
    );
    const allocated = async () => (await reg.list()).find((n) => n.name === "free-1")!.allocated;
    // Without the list (an older node), nothing is freed.
    await reg.heartbeat(token, report(8, 8192));
    expect((await allocated()).sandboxes).toBe(4);
    // sb-ended is gone from the node; sb-young was placed a moment ago; pending-x is a create in flight.
    await reg.heartbeat(token, { ...report(8, 8192), sandboxIds: ["sb-live"] });
    expect(freed).toEqual(["sb-ended"]);
    expect(await allocated()).toEqual({ cpus: 3, memoryMb: 1536, sandboxes: 3 });
    const { rows } = await db.pool.query("SELECT sandbox_id FROM placements WHERE node = 'free-1' ORDER BY 1");
    expect(rows.map((r: { sandbox_id: string }) => r.sandbox_id)).toEqual(["pending-x", "sb-live", "sb-young"]);
    // Registering again (a restarted node) reconciles the same way.
    await db.pool.query("UPDATE placements SET placed_at = now() - interval '1 hour' WHERE sandbox_id = 'sb-young'");
    await reg.register(token, { ...report(8, 8192), sandboxIds: ["sb-live"] });
    expect(freed).toEqual(["sb-ended", "sb-young"]);
    expect((await allocated()).sandboxes).toBe(2);
    expect(await code(reg.heartbeat(token, { ...report(8, 8192), sandboxIds: [1 as unknown as string] }))).toBe(
      "invalid_argument",
    );
  });
});

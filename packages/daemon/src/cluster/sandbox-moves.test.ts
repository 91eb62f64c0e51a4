// The records of moving sandboxes between nodes, on the run's throwaway PostgreSQL: a placement
// moves off a node onto another in one transaction (room and quota counted once, never onto a
// draining node, nothing changed when no node has room); a confirmed move gives the old node's copy
// up and ends the row; an undone one puts the placement back and gives up the new node's copy;
// while a move is in flight, calls answer node_unavailable and the new node's reports do not free
// it; a parked (suspended) sandbox of a lost node is not given up; the move lock is one at a time.
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { SbxError } from "@sbx-sh/protocol";
import { openClusterDb, type ClusterDb } from "./cluster-db.js";
import { GivenUp } from "./given-up.js";
import type { MoveSpec } from "./move-spec.js";
import { NodeRegistry } from "./node-registry.js";
import { Placer } from "./placement.js";
import { SandboxDirectory } from "./sandbox-directory.js";
import { SandboxMoves } from "./sandbox-moves.js";
import { report } from "../testing/cluster-kit.js";
import { freshSchema, pgTestUrl } from "../testing/pg-test.js";

// Each test has its own schema: a move considers every ready node of the cluster.
let db: ClusterDb;
const opened: ClusterDb[] = [];
beforeEach(async () => {
  db = await openClusterDb({ url: pgTestUrl(), schema: freshSchema("moves") });
  opened.push(db);
});
afterAll(async () => {
  for (const d of opened) await d.close();
});

const spec = (id: string): MoveSpec => ({
  id,
  name: `n-${id}`,
  image: "default",
  createdAt: new Date().toISOString(),
  cpus: 1,
  memoryMb: 256,
  pidsLimit: 1024,
  diskMb: 4096,
  timeoutSecs: 600,
  allowInternetAccess: false,
  allowOut: [],
  denyOut: [],
  env: {},
  labels: {},
  secretNames: [],
  entrypoint: null,
});
const SNAP = { id: "snap_1", manifest: `sha256:${"a".repeat(64)}` };

/** Nodes a (where the sandbox is), b and c, each 2 cpus / 1024 MB; the sandbox `id` placed on a. */
async function setup(prefix: string, id: string) {
  const reg = new NodeRegistry(db.pool, { leaseSecs: 30 });
  const tokens: Record<string, string> = {};
  for (const n of ["a", "b", "c"]) {
    tokens[n] = (await reg.add(`${prefix}-${n}`, { set: prefix })).token;
    await reg.register(tokens[n]!, report(2, 1024));
  }
  const placer = new Placer(db.pool);
  await reg.setState(`${prefix}-b`, "cordoned");
  await reg.setState(`${prefix}-c`, "cordoned");
  await placer.place({
    sandboxId: `pending-${id}`,
    project: prefix,
    name: `n-${id}`,
    cpus: 1,
    memoryMb: 256,
    layers: [],
    selector: { set: prefix },
  });
  await new SandboxDirectory(db.pool).confirm(`pending-${id}`, id, { id, status: "running" });
  await reg.setState(`${prefix}-b`, "ready");
  await reg.setState(`${prefix}-c`, "ready");
  const alloc = async () =>
    Object.fromEntries(
      (await reg.list()).filter((n) => n.name.startsWith(prefix)).map((n) => [n.name.slice(-1), n.allocated.sandboxes]),
    );
  return { reg, tokens, placer, alloc, moves: new SandboxMoves(db.pool), dir: new SandboxDirectory(db.pool) };
}

describe("SandboxMoves", () => {
  it("moves a placement in one transaction, confirms it, and gives the old node's copy up", async () => {
    const { reg, moves, alloc, dir, placer, tokens } = await setup("mv1", "sb-1");
    await placer.setQuota("mv1", { maxSandboxes: 1, maxCpus: null, maxMemoryMb: null });
    await reg.setState("mv1-a", "draining");
    await reg.setState("mv1-c", "draining");
    await moves.begin({ sandboxId: "sb-1", project: "mv1", name: "n-sb-1" }, "mv1-a", "drain");
    // In flight: calls are held off, whatever the node.
    expect((await dir.locate("mv1", "n-sb-1")).unavailable).toMatch(/being moved from node mv1-a/);
    await moves.described("sb-1", spec("sb-1"), SNAP, "moving");
    // The quota of 1 is already used by the sandbox itself: a move counts it once, so it fits.
    expect(await moves.placeElsewhere("sb-1")).toBe("mv1-b");
    expect(await alloc()).toEqual({ a: 0, b: 1, c: 0 });
    // The new node's report before it adopted the sandbox does not free it, however old.
    await db.pool.query("UPDATE placements SET placed_at = now() - interval '1 hour' WHERE sandbox_id = 'sb-1'");
    await reg.heartbeat(tokens.b!, { ...report(2, 1024), sandboxIds: [] });
    expect(await alloc()).toEqual({ a: 0, b: 1, c: 0 });
    await moves.confirm("sb-1", { id: "sb-1", status: "running", node: "b" });
    expect(await moves.get("sb-1")).toBeNull();
    const at = await dir.locate("mv1", "n-sb-1");
    expect(at).toMatchObject({ node: "mv1-b", unavailable: null });
    // The old node is told to destroy its copy when it reports it; the new one keeps it.
    const lease = await reg.heartbeat(tokens.a!, { ...report(2, 1024), sandboxIds: ["sb-1"] });
    expect(lease.destroy).toEqual(["sb-1"]);
    expect((await reg.heartbeat(tokens.b!, { ...report(2, 1024), sandboxIds: ["sb-1"] })).destroy).toBeUndefined();
    // A moved sandbox is not listed as lost, nor explained as gone.
    expect(await new GivenUp(db.pool).lostOfProject("mv1")).toEqual([]);
  });

  it("with no room anywhere nothing changes; an undone move goes back to its node", async () => {
    const { reg, moves, alloc, dir } = await setup("mv2", "sb-2");
    for (const n of ["mv2-a", "mv2-b", "mv2-c"]) await reg.setState(n, "draining");
    await moves.begin({ sandboxId: "sb-2", project: "mv2", name: "n-sb-2" }, "mv2-a", "drain");
    expect(await moves.roomElsewhere("sb-2")).toBe(false);
    await moves.described("sb-2", spec("sb-2"), SNAP, "moving");
    const err = await moves.placeElsewhere("sb-2").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SbxError);
    expect((err as SbxError).message).toMatch(/no other ready node has room/);
    expect(await alloc()).toEqual({ a: 1, b: 0, c: 0 });
    expect((await moves.get("sb-2"))?.state).toBe("moving");

    await reg.setState("mv2-c", "ready");
    expect(await moves.roomElsewhere("sb-2")).toBe(true);
    expect(await moves.placeElsewhere("sb-2")).toBe("mv2-c");
    await moves.undo("sb-2");
    expect(await alloc()).toEqual({ a: 1, b: 0, c: 0 });
    expect((await dir.locate("mv2", "sb-2")).node).toBe("mv2-a");
    // Parked again (suspended on a): resumable there or elsewhere; c destroys its partial copy.
    expect(await moves.get("sb-2")).toMatchObject({ state: "suspended", to: null, snapshot: SNAP });
    const c = await db.pool.query("SELECT reason FROM given_up WHERE sandbox_id = 'sb-2' AND node = 'mv2-c'");
    expect(c.rows[0]?.reason).toMatch(/^moved back to mv2-a/);
  });

  it("a parked sandbox of a lost node is not given up; the move lock is one at a time", async () => {
    const { reg, moves } = await setup("mv3", "sb-3");
    await moves.parked({ sandboxId: "sb-3", project: "mv3", name: "n-sb-3" }, "mv3-a", spec("sb-3"), SNAP);
    await db.pool.query("UPDATE nodes SET lease_expires_at = now() - interval '1 second' WHERE name = 'mv3-a'");
    await reg.expireLeases();
    await db.pool.query("UPDATE nodes SET lost_at = now() - interval '1 hour' WHERE name = 'mv3-a'");
    expect((await new GivenUp(db.pool).giveUpLost(60)).get("mv3-a")).toBeUndefined();
    expect((await new SandboxDirectory(db.pool).locate("mv3", "sb-3")).unavailable).toMatch(
      /it is suspended: `sbx resume n-sb-3` starts it on another node/,
    );
    expect(await moves.claim("sb-3", "resume")).toBe(true);
    expect(await moves.claim("sb-3", "resume")).toBe(false);
    const inner = await moves.locked("sb-3", () =>
      moves.locked("sb-3", async () => "twice").catch((e: SbxError) => e.message),
    );
    expect(inner).toMatch(/being moved by another request/);
    expect(await moves.locked("sb-3", async () => "free again")).toBe("free again");
  });
});

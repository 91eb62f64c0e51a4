// Giving up a lost node's sandboxes, on the run's throwaway PostgreSQL: after --node-give-up the
// placements of a lost node are given up (room freed, reason kept, calls answer sandbox_not_found
// with it); a sandbox terminated while its node is lost is given up alone; when the node comes back,
// its lease names exactly the given-up sandboxes it still reports, to destroy, and the sandboxes the
// control plane still places there stay.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SbxError, type SandboxInfo } from "@sbx-sh/protocol";
import { openClusterDb, type ClusterDb } from "./cluster-db.js";
import { GivenUp, givenUpReason } from "./given-up.js";
import { NodeRegistry } from "./node-registry.js";
import { Placer } from "./placement.js";
import { SandboxDirectory } from "./sandbox-directory.js";
import { report } from "../testing/cluster-kit.js";
import { freshSchema, pgTestUrl } from "../testing/pg-test.js";

let db: ClusterDb;
beforeAll(async () => {
  db = await openClusterDb({ url: pgTestUrl(), schema: freshSchema("givenup") });
});
afterAll(() => db.close());

async function lostNode(reg: NodeRegistry, name: string, ids: string[]): Promise<string> {
  const { token } = await reg.add(name, { pool: name });
  await reg.register(token, report(8, 8192));
  const placer = new Placer(db.pool);
  const dir = new SandboxDirectory(db.pool);
  for (const id of ids) {
    await placer.place({
      sandboxId: `pending-${id}`,
      project: "gp",
      name: `n-${id}`,
      cpus: 1,
      memoryMb: 256,
      layers: [],
      selector: { pool: name },
    });
    await dir.confirm(`pending-${id}`, id, { id, name: `n-${id}`, status: "running" } as Partial<SandboxInfo>);
  }
  await db.pool.query("UPDATE nodes SET lease_expires_at = now() - interval '1 second' WHERE name = $1", [name]);
  expect(await reg.expireLeases()).toContain(name);
  return token;
}

const allocated = async (reg: NodeRegistry, name: string) => (await reg.list()).find((n) => n.name === name)!.allocated;

describe("GivenUp", () => {
  it("gives up a lost node's sandboxes after the give-up time; back, the node is told to destroy them", async () => {
    const reg = new NodeRegistry(db.pool, { leaseSecs: 30 });
    const gu = new GivenUp(db.pool);
    const token = await lostNode(reg, "gu-1", ["sb-a", "sb-b"]);
    // Not yet: lost for less than the give-up time.
    expect((await gu.giveUpLost(60)).size).toBe(0);
    await db.pool.query("UPDATE nodes SET lost_at = now() - interval '2 minutes' WHERE name = 'gu-1'");
    expect(await gu.giveUpLost(60)).toEqual(new Map([["gu-1", ["sb-a", "sb-b"]]]));
    expect(await gu.giveUpLost(60)).toEqual(new Map());
    expect(await allocated(reg, "gu-1")).toEqual({ cpus: 0, memoryMb: 0, sandboxes: 0 });
    // Calls on them say why; the project's list has them with the reason.
    const dir = new SandboxDirectory(db.pool);
    const err = await dir.locate("gp", "n-sb-a").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SbxError);
    expect((err as SbxError).code).toBe("sandbox_not_found");
    expect((err as SbxError).message).toMatch(/gone: its node gu-1 was lost at \S+Z and did not come back in time/);
    expect(givenUpReason((await gu.lostOfProject("gp"))[0]!)).toMatch(/; its node destroys it when it comes back$/);
    expect((await gu.lostOfProject("gp")).map((g) => [g.sandboxId, g.destroyedAt])).toEqual([
      ["sb-a", null],
      ["sb-b", null],
    ]);
    // The node comes back still running both and an unknown one: it is told to destroy the two.
    const lease = await reg.register(token, { ...report(8, 8192), sandboxIds: ["sb-a", "sb-b", "sb-other"] });
    expect(lease).toEqual({ name: "gu-1", leaseSecs: 30, destroy: ["sb-a", "sb-b"] });
    // Once they are gone from its report, they are marked destroyed and nothing more is asked.
    expect(await reg.heartbeat(token, { ...report(8, 8192), sandboxIds: ["sb-other"] })).toEqual({
      name: "gu-1",
      leaseSecs: 30,
    });
    expect((await gu.lostOfProject("gp")).every((g) => g.destroyedAt !== null)).toBe(true);
    // Listed with the reason, and now that nothing of them is left on the node.
    expect(givenUpReason((await gu.lostOfProject("gp"))[0]!)).toMatch(
      /in time: given up; its node destroyed it at \S+Z$/,
    );
    expect(await gu.prune(3600)).toBe(0);
    await db.pool.query("UPDATE given_up SET given_up_at = now() - interval '2 hours' WHERE node = 'gu-1'");
    expect(await gu.prune(3600)).toBe(2);
  });

  it("terminates a sandbox of a lost node alone; the node's other sandboxes stay placed", async () => {
    const reg = new NodeRegistry(db.pool, { leaseSecs: 30 });
    const gu = new GivenUp(db.pool);
    const token = await lostNode(reg, "gu-2", ["sb-c", "sb-d"]);
    const ended = await gu.terminate("sb-c");
    expect(ended).toMatchObject({ id: "sb-c", status: "terminated", terminationReason: "requested" });
    expect(await allocated(reg, "gu-2")).toEqual({ cpus: 1, memoryMb: 256, sandboxes: 1 });
    expect(await gu.terminate("sb-c")).toBeNull();
    const err = await new SandboxDirectory(db.pool).locate("gp", "sb-c").catch((e: unknown) => e as SbxError);
    expect((err as SbxError).message).toMatch(/terminated while its node gu-2 was lost/);
    // Terminated on purpose: not listed as lost.
    expect((await gu.lostOfProject("gp")).map((g) => g.sandboxId)).not.toContain("sb-c");
    const lease = await reg.register(token, { ...report(8, 8192), sandboxIds: ["sb-c", "sb-d"] });
    expect(lease.destroy).toEqual(["sb-c"]);
    expect((await new SandboxDirectory(db.pool).locate("gp", "sb-d")).unavailable).toBeNull();
    // A live node's sandbox is never given up by a terminate.
    expect(await gu.terminate("sb-d")).toBeNull();
    expect(await allocated(reg, "gu-2")).toEqual({ cpus: 1, memoryMb: 256, sandboxes: 1 });
  });
});

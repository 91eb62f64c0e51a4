// The control replica's route cache on a real PostgreSQL: tokens, projects and sandbox locations
// are answered from memory, and every change that would make one wrong (a token revoked, a project
// deleted, a sandbox destroyed or moved, its node lost, revoked or its lease cut) reaches every
// replica by NOTIFY and drops it; a broken listening connection turns the cache off until it
// listens again. The TTL is set far beyond the test, so only a notification can explain a change.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { SbxError } from "@sbx-sh/protocol";
import { openClusterDb, type ClusterDb } from "./cluster-db.js";
import { NodeRegistry } from "./node-registry.js";
import { Placer } from "./placement.js";
import { RouteCache } from "./route-cache.js";
import { SandboxDirectory } from "./sandbox-directory.js";
import { ProjectService } from "../services/project-service.js";
import { openStores } from "../store/open-stores.js";
import type { Stores } from "../store/store.js";
import { report } from "../testing/cluster-kit.js";
import { freshSchema, pgTestUrl } from "../testing/pg-test.js";

const schema = freshSchema("routes");
const tag = schema.slice(-6);
let stores: Stores;
let db: ClusterDb;
/** Two replicas' caches over the same database. */
let a: RouteCache;
let b: RouteCache;
const opts = (who: string) => ({ ttlMs: 600_000, pingMs: 100, appName: `routes-${tag}-${who}` });

beforeAll(async () => {
  stores = await openStores({ kind: "postgres", url: pgTestUrl(), schema });
  db = await openClusterDb({ url: pgTestUrl(), schema });
  a = await RouteCache.start(db.pool, pgTestUrl(), schema, opts("a"));
  b = await RouteCache.start(db.pool, pgTestUrl(), schema, opts("b"));
});
afterAll(async () => {
  await a.close();
  await b.close();
  await db.close();
  await stores.close();
});

async function placed(node: string, id: string, name: string): Promise<void> {
  await new Placer(db.pool).place({
    ...{ sandboxId: `pending-${id}`, project: "p", name, cpus: 1, memoryMb: 256, layers: [] },
    selector: { pool: node },
  });
  await new SandboxDirectory(db.pool).confirm(`pending-${id}`, id);
}

async function readyNode(reg: NodeRegistry, name: string): Promise<void> {
  const { token } = await reg.add(name, { pool: name });
  await reg.register(token, report(8, 8192));
}

/** Once every change so far reached `cache` (its own notification came back): nothing kept, and the location now. */
async function dropped(cache: RouteCache, dir: SandboxDirectory, id: string) {
  await cache.sync();
  expect(cache.size).toBe(0);
  return dir.locate("p", id);
}

describe("RouteCache", () => {
  it("remembers a location, and forgets it on every replica when the sandbox moves, its node is lost or revoked, or it ends", async () => {
    const reg = new NodeRegistry(db.pool, { leaseSecs: 300 });
    for (const n of ["rc-1", "rc-2", "rc-3", "rc-4"]) await readyNode(reg, n);
    const dirA = new SandboxDirectory(db.pool, a);
    const dirB = new SandboxDirectory(db.pool, b);
    const cases: Array<[string, string, () => Promise<unknown>, RegExp | "gone"]> = [
      [
        "rc-1",
        "sb-moved",
        () =>
          db.pool.query(
            "INSERT INTO sandbox_moves (sandbox_id, project, name, from_node, state, why) VALUES ('sb-moved', 'p', 'moved', 'rc-1', 'suspending', 'drain')",
          ),
        /being moved from node rc-1/,
      ],
      ["rc-2", "sb-lost", () => db.pool.query("UPDATE nodes SET state = 'lost' WHERE name = 'rc-2'"), /is lost/],
      ["rc-3", "sb-revoked", () => reg.setState("rc-3", "revoked"), /was revoked/],
      [
        "rc-4",
        "sb-lease",
        () => db.pool.query("UPDATE nodes SET lease_expires_at = now() - interval '1 second' WHERE name = 'rc-4'"),
        /is lost/,
      ],
      ["rc-4", "sb-ended", () => new Placer(db.pool).release("sb-ended"), "gone"],
    ];
    for (const [node, id, change, expected] of cases) {
      if (id === "sb-ended")
        await db.pool.query(
          "UPDATE nodes SET state = 'ready', lease_expires_at = now() + interval '300 seconds' WHERE name = 'rc-4'",
        );
      await placed(node, id, id.slice(3));
      await a.sync();
      await b.sync();
      for (const [cache, dir] of [
        [a, dirA],
        [b, dirB],
      ] as const) {
        // By id and by name; the second lookup of each comes from memory.
        expect((await dir.locate("p", id)).node).toBe(node);
        const hits = cache.stats.hits;
        expect((await dir.locate("p", id)).unavailable).toBeNull();
        expect((await dir.locate("p", id.slice(3))).sandboxId).toBe(id);
        expect((await dir.locate("p", id.slice(3))).sandboxId).toBe(id);
        expect({ hits: cache.stats.hits - hits, kept: cache.size }).toEqual({ hits: 2, kept: 2 });
      }
      await change();
      for (const [cache, dir] of [
        [a, dirA],
        [b, dirB],
      ] as const) {
        if (expected === "gone") {
          const err = (await dropped(cache, dir, id).catch((e: unknown) => e)) as SbxError;
          expect(err.code).toBe("sandbox_not_found");
        } else expect((await dropped(cache, dir, id)).unavailable).toMatch(expected);
      }
    }
  });

  it("forgets a location on this replica when a forwarded call failed or its node answered 404, not otherwise", async () => {
    const reg = new NodeRegistry(db.pool, { leaseSecs: 300 });
    await readyNode(reg, "rc-5");
    await placed("rc-5", "sb-answered", "answered");
    await a.sync();
    const dir = new SandboxDirectory(db.pool, a);
    const kept = async (): Promise<number> => {
      await dir.locate("p", "sb-answered");
      return a.size;
    };
    const before = await kept();
    expect(before).toBeGreaterThan(0);
    dir.answered("sb-answered", 200);
    dir.answered("sb-answered", 500);
    expect(a.size).toBe(before);
    dir.answered("sb-answered", 404);
    expect(a.size).toBe(before - 1);
    expect(await kept()).toBe(before);
    dir.answered("sb-answered", "failed");
    expect(a.size).toBe(before - 1);
  });

  it("forgets a revoked token at once on its replica and within a notification on the others, and a deleted project", async () => {
    const onA = new ProjectService(stores.meta);
    onA.memo = a;
    const onB = new ProjectService(stores.meta);
    onB.memo = b;
    await onA.create("tokp");
    const { id, token } = await onA.createToken("tokp");
    for (const svc of [onA, onB]) {
      expect((await svc.identify(token))?.project).toBe("tokp");
      expect((await svc.identify(token))?.tokenId).toBe(id);
    }
    const hitsB = b.stats.hits;
    expect((await onB.identify(token))?.project).toBe("tokp");
    expect(b.stats.hits).toBe(hitsB + 1);
    await onA.revokeToken("tokp", id);
    expect(await onA.identify(token)).toBeUndefined();
    // On the other replica, as soon as the revocation's notification arrived (no waiting for a TTL).
    await b.sync();
    expect(await onB.identify(token)).toBeUndefined();
    // A project remembered as existing is forgotten when it is deleted.
    expect((await onB.require("tokp")).name).toBe("tokp");
    expect((await onB.require("tokp")).name).toBe("tokp");
    await onA.delete("tokp", "default");
    await b.sync();
    expect(await onB.require("tokp").catch((e: SbxError) => e.code)).toBe("project_not_found");
  });

  // Its own cache, pinging every 2 s: the cut listener is noticed at once (the connection's error),
  // and the reconnect waits for the next ping, so the test sees the cache off before it is back (with
  // the suite's 100 ms pings the reconnect could come before a poll saw it off).
  it(
    "keeps nothing a change raced with, and nothing while its listening connection is down",
    { timeout: 20_000 },
    async () => {
      const a = await RouteCache.start(db.pool, pgTestUrl(), schema, { ...opts("c"), pingMs: 2000 });
      try {
        await a.sync();
        const before = a.size;
        await a.get(
          "raced",
          async () => (a.forget("s:any"), "v"),
          () => ({ ms: 60_000, tags: ["s:x"] }),
        );
        expect(a.size).toBe(before);
        await a.get(
          "kept",
          async () => "v",
          () => ({ ms: 60_000, tags: ["s:x"] }),
        );
        expect(a.size).toBe(before + 1);
        await db.pool.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", [
          `routes-${tag}-c`,
        ]);
        await vi.waitFor(() => expect(a.live).toBe(false), { timeout: 5000, interval: 2 });
        expect(a.size).toBe(0);
        let loads = 0;
        const load = async () => (loads++, "v");
        await a.get("off", load, () => ({ ms: 60_000, tags: [] }));
        // Back once it listens again, and notifications reach it again.
        await vi.waitFor(() => expect(a.live).toBe(true), { timeout: 5000 });
        await a.get("on", load, () => ({ ms: 60_000, tags: ["s:after"] }));
        await a.get("on", load, () => ({ ms: 60_000, tags: ["s:after"] }));
        expect(loads).toBe(2);
        const kept = a.size;
        await db.pool.query("SELECT pg_notify('sbx_routes', $1)", [`${schema}|s:after`]);
        await a.sync();
        expect(a.size).toBe(kept - 1);
      } finally {
        await a.close();
      }
    },
  );
});

// Control replicas sharing one PostgreSQL fail only dead replicas' builds: a replica that (re)starts
// leaves another live replica's builds in progress alone, and fails those whose replica's lease ran
// out (kill -9) or that record no owner; both for image builds and Tensorlake template builds.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BuildRecord } from "../domain/records.js";
import { BuildService, type BuildServiceOptions } from "../services/build-service.js";
import { TemplateBuilds } from "../services/template-builds.js";
import { openStores } from "../store/open-stores.js";
import type { Stores } from "../store/store.js";
import { freshSchema, pgTestUrl } from "../testing/pg-test.js";
import type { Logger } from "../common/log.js";
import { ReplicaLease } from "./replica-lease.js";

const schema = freshSchema("replicas");
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined };
const log = quiet as unknown as Logger;
let stores: Stores;
const leases: ReplicaLease[] = [];
const lease = async (): Promise<ReplicaLease> => {
  const l = await ReplicaLease.start(pgTestUrl(), 30, log, schema);
  leases.push(l);
  return l;
};

beforeAll(async () => {
  stores = await openStores({ kind: "postgres", url: pgTestUrl(), schema });
});
afterAll(async () => {
  for (const l of leases) await l.close();
  await stores.close();
});

/** A BuildService as a replica runs it; failOrphaned needs only its store and owner. */
function buildService(owner: ReplicaLease): BuildService {
  const opts = { logDir: "/nonexistent", inUse: { add: () => undefined }, owner } as unknown as BuildServiceOptions;
  return new BuildService(stores.images, {} as never, {} as never, opts, log);
}

const build = (id: string, owner?: string): BuildRecord => ({
  id,
  project: "default",
  imageName: "app",
  tag: id,
  state: "running",
  steps: 1,
  imageId: null,
  failure: null,
  createdAt: new Date().toISOString(),
  startedAt: new Date().toISOString(),
  endedAt: null,
  ...(owner ? { owner } : {}),
});

/** kill -9 of a replica: its lease is never renewed again (here: made to run out at once). */
async function killed(l: ReplicaLease): Promise<void> {
  const { pool } = (l as unknown as { db: { pool: import("pg").Pool } }).db;
  await pool.query("UPDATE control_replicas SET lease_expires_at = now() - interval '1 second' WHERE id = $1", [l.id]);
}

describe("control replicas and builds in one PostgreSQL", () => {
  it("a restarting replica fails only builds whose replica is gone; a live replica's keep running", async () => {
    const [a, b] = [await lease(), await lease()];
    expect(a.id).not.toBe(b.id);
    const tA = new TemplateBuilds(stores.images, a);
    const tB = new TemplateBuilds(stores.images, b);
    const ofA = await tA.create("default", "from-a");
    const ofB = await tB.create("default", "from-b");
    expect((await stores.images.getTemplateBuild(ofA.id))?.owner).toBe(a.id);
    await stores.images.insertBuild(build("bld-a", a.id));
    await stores.images.insertBuild(build("bld-b", b.id));
    await stores.images.insertBuild(build("bld-old"));

    // B stops cleanly and starts again as a new replica: its old builds, and ownerless ones, are failed.
    await b.close();
    const b2 = await lease();
    expect(await new TemplateBuilds(stores.images, b2).reconcile()).toBe(1);
    expect(await buildService(b2).reconcile()).toBe(2);
    expect((await stores.images.getTemplateBuild(ofB.id))?.state).toBe("failed");
    expect((await stores.images.getTemplateBuild(ofA.id))?.state).toBe("prepared");
    expect((await stores.images.getBuild("bld-b"))?.state).toBe("failed");
    expect((await stores.images.getBuild("bld-old"))?.state).toBe("failed");
    expect((await stores.images.getBuild("bld-a"))?.state).toBe("running");
    // A sees its own builds as its own.
    expect(await tA.reconcile()).toBe(0);
    expect(await buildService(a).failOrphaned()).toBe(0);

    // A dies (kill -9): once its lease runs out, B fails A's builds with the reason; never stuck.
    await killed(a);
    expect(await new TemplateBuilds(stores.images, b2).reconcile()).toBe(1);
    expect(await buildService(b2).failOrphaned()).toBe(1);
    expect(await stores.images.getTemplateBuild(ofA.id)).toMatchObject({ state: "failed" });
    expect((await stores.images.getBuild("bld-a"))?.failure?.message).toMatch(/daemon stopped during the build/);
  });
});

// PoolService on the fake runtime: pools keep their warm blanks, a claim is served from one (a hit)
// and the pool refills, bad sizes change nothing, `max` bounds claims, pools survive a restart of
// the service, and re-pointing the image name replaces the warm blanks on a rolling basis without
// ever serving the old image.
import { afterEach, describe, expect, it } from "vitest";
import { eventually, startServices, writeText, type ServiceHarness } from "./testing/service-harness.js";

let h: ServiceHarness;
afterEach(async () => {
  await h.pools.close();
  await h.close();
});
const P = "default";

describe("PoolService", () => {
  it("keeps warm blanks, serves claims from them and refills", async () => {
    h = await startServices({ warmPool: 0 });
    await h.pools.load(50);
    const pool = await h.pools.create(P, { warm: 2, max: 5, cpus: 2 });
    await eventually(async () => (await h.pools.ready(pool)) === 2);
    const sb = await h.pools.claim(P, pool.id);
    expect(sb).toMatchObject({ status: "running", cpus: 2 });
    expect(h.runtime.calls).toContain(`reconfigure ${sb.id}`);
    expect(h.pools.statsOf(pool.id)).toMatchObject({ claims: 1, hits: 1, misses: 0 });
    expect(h.pools.statsOf(pool.id).claimP50Ms).toBeGreaterThanOrEqual(0);
    await eventually(async () => (await h.pools.ready(pool)) === 2);
    expect(h.pools.poolOf(sb.id)).toBe(pool.id);
  });

  it("refuses max below warm, and bounds claims by max", async () => {
    h = await startServices({ warmPool: 0 });
    await h.pools.load(50);
    await expect(h.pools.create(P, { warm: 3, max: 2 })).rejects.toMatchObject({ code: "out_of_range" });
    expect(h.pools.list(P).map((p) => p.id)).toEqual(["default"]);
    const pool = await h.pools.create(P, { warm: 0, max: 1 });
    const first = await h.pools.claim(P, pool.id);
    expect(h.pools.statsOf(pool.id)).toMatchObject({ hits: 0, misses: 1 });
    await expect(h.pools.claim(P, pool.id)).rejects.toMatchObject({ code: "failed_precondition" });
    await h.sandboxes.terminate(P, first.id);
    expect((await h.pools.claim(P, pool.id)).status).toBe("running");
    expect(() => h.pools.get("other", pool.id)).toThrow(/does not exist/);
  });

  it("replaces warm blanks when the image name is re-pointed, and never serves the old image", async () => {
    h = await startServices({ warmPool: 0 });
    const src = await h.sandboxes.create(P, { name: "src" });
    await writeText(h, src.id, "/v", "1");
    const v1 = await h.snapshots.registerImage(P, { name: "app" }, (await h.sandboxes.snapshot(P, src.id)).id, false);
    await h.pools.load(50);
    const pool = await h.pools.create(P, { image: "app", warm: 2 });
    await eventually(async () => (await h.pools.ready(pool)) === 2);
    await writeText(h, src.id, "/v", "2");
    const v2 = await h.snapshots.registerImage(P, { name: "app" }, (await h.sandboxes.snapshot(P, src.id)).id, true);
    expect(v2.id).not.toBe(v1.id);
    // A claim during the rollout resolves the name: the new image, warm or not.
    expect((await h.pools.claim(P, pool.id)).imageId).toBe(v2.id);
    await eventually(() => h.pool.readyFor(pool.id, v2.id) === 2 && h.pool.readyFor(pool.id, v1.id) === 0);
    const sb = await h.pools.claim(P, pool.id);
    expect(sb.imageId).toBe(v2.id);
    expect(h.pools.statsOf(pool.id).hits).toBeGreaterThanOrEqual(1);
  });

  it("keeps pools across a restart of the service, and deleting one drops its blanks", async () => {
    h = await startServices({ warmPool: 0 });
    await h.pools.load(50);
    const pool = await h.pools.create(P, { warm: 1 });
    await eventually(async () => (await h.pools.ready(pool)) === 1);
    await h.pools.close();
    await h.pools.load(50);
    expect(h.pools.get(P, pool.id)).toMatchObject({ id: pool.id, warm: 1 });
    await h.pools.remove(P, pool.id);
    await eventually(() => h.pool.readyFor(pool.id) === 0);
    expect(() => h.pools.get(P, pool.id)).toThrow(/does not exist/);
  });
});

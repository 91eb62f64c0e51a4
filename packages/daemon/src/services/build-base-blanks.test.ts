// Blanks kept for recent build bases (./build-base-blanks.ts): the bounds on their own (how many
// bases, for how long, none without a warm pool or for the default image), then through the
// daemon's wiring on the fake runtime: a build on a base leaves a blank of it, the next build's
// first step runs in that blank with the same result as a build sandbox made for it, and a base
// whose image goes away loses its blank.
import { afterEach, describe, expect, it, vi } from "vitest";
import type { ImageDefinition, Step } from "@sbx-sh/protocol";
import { BuildBaseBlanks, MAX_BASES, TTL_MS } from "./build-base-blanks.js";
import { BUILD_LIMITS, readText, startServices, eventually, type ServiceHarness } from "./testing/service-harness.js";
import { DEFAULT_TARGET, type Blank, type PoolTarget } from "./warm-pool.js";

function fakePool(size = 1, defaultImage = "sha256:default") {
  const targets = new Map<string, PoolTarget>();
  const takes: string[] = [];
  const ready = new Map<string, Blank>();
  const pool = {
    size,
    setTarget: (key: string, t: PoolTarget) => void targets.set(key, t),
    removeTarget: (key: string) => void targets.delete(key),
    imageOf: (key: string) => (key === DEFAULT_TARGET ? defaultImage : undefined),
    take: (imageId: string, network: boolean, target?: string, refill = true) => {
      takes.push(`${target} ${imageId} ${network}${refill ? "" : " (no refill)"}`);
      const b = ready.get(target!);
      ready.delete(target!);
      return b;
    },
    discard: async () => undefined,
    refill: () => void takes.push("refill"),
  };
  return { pool, targets, takes, ready };
}

const base = (n: number) => ({ project: "p", ref: `img${n}:latest`, imageId: `sha256:${n}` });

describe("BuildBaseBlanks", () => {
  afterEach(() => void vi.useRealTimers());

  it("keeps one networked blank per recent base, at most MAX_BASES bases, least recently built-on dropped first", () => {
    const { pool, targets } = fakePool();
    const blanks = new BuildBaseBlanks(() => pool);
    blanks.remember(base(1));
    expect([...targets.entries()]).toEqual([
      ["build-base:sha256:1", { project: "p", image: "img1:latest", imageId: "sha256:1", count: 1, networks: [true] }],
    ]);
    for (let i = 2; i <= MAX_BASES; i++) blanks.remember(base(i));
    // Built on again: now the most recent.
    blanks.remember(base(1));
    blanks.remember(base(MAX_BASES + 1));
    expect(blanks.bases).toHaveLength(MAX_BASES);
    expect(blanks.bases).toContain("sha256:1");
    expect(blanks.bases).not.toContain("sha256:2");
    expect([...targets.keys()].sort()).toEqual(blanks.bases.map((id) => `build-base:${id}`).sort());
    blanks.close();
    expect(targets.size).toBe(0);
  });

  it("drops a base TTL_MS after its last build, counted from the last one", () => {
    vi.useFakeTimers();
    const { pool, targets } = fakePool();
    const blanks = new BuildBaseBlanks(() => pool);
    blanks.remember(base(1));
    vi.advanceTimersByTime(TTL_MS - 1000);
    blanks.remember(base(1));
    vi.advanceTimersByTime(TTL_MS - 1000);
    expect(targets.has("build-base:sha256:1")).toBe(true);
    vi.advanceTimersByTime(1000);
    expect(targets.size).toBe(0);
    expect(blanks.bases).toEqual([]);
  });

  it("keeps none without a warm pool, nor for the default pool's image", () => {
    const none = fakePool(0);
    new BuildBaseBlanks(() => none.pool).remember(base(1));
    expect(none.targets.size).toBe(0);
    const dflt = fakePool(1, "sha256:1");
    new BuildBaseBlanks(() => dflt.pool).remember(base(1));
    expect(dflt.targets.size).toBe(0);
  });

  it("takes the default pool's blank first, then the base's, never a sandbox pool's", () => {
    const { pool, takes, ready } = fakePool();
    const blanks = new BuildBaseBlanks(() => pool);
    const mine = { spec: { id: "sb-1" } } as unknown as Blank;
    ready.set("build-base:sha256:1", mine);
    expect(blanks.take("sha256:1", true)).toBe(mine);
    // The base's blank is made again only when the build is over and remembers its base.
    expect(takes).toEqual(["default sha256:1 true (no refill)", "build-base:sha256:1 sha256:1 true (no refill)"]);
    blanks.remember({ project: "p", ref: "img1", imageId: "sha256:1" });
    blanks.remember({ project: "p", ref: "img1", imageId: "sha256:1" });
    expect(takes.slice(2)).toEqual(["refill"]);
    blanks.refill();
    expect(takes.slice(3)).toEqual(["refill"]);
  });
});

describe("build-base blanks through the daemon's wiring", () => {
  let h: ServiceHarness;
  afterEach(async () => {
    await h.close();
  });

  const P = "default";
  async function build(name: string, baseImage: string, steps: Step[]) {
    const definition: ImageDefinition = { name, baseImage, steps };
    const started = await h.builds.create(P, { definition, noCache: true });
    for await (const _ of h.builds.events(P, started.id, true));
    const rec = await h.builds.get(P, started.id);
    expect(rec).toMatchObject({ state: "succeeded" });
    return (await h.images.resolve(P, name)).id;
  }
  const run: Step[] = [{ op: "run", command: "echo step > /step.txt; cat /base.txt >> /step.txt" }];
  const coldCreates = (since: number) => h.runtime.calls.slice(since).filter((c) => c.startsWith("create bld"));

  it("a build on a base leaves a blank of it, the next build runs its first step there, and it goes with the image", async () => {
    h = await startServices({ warmPool: 1 });
    await eventually(() => h.pool.available === 2);
    const baseId = await build("base1", "fake-base", [{ op: "run", command: "echo base > /base.txt" }]);
    // The default image has the default pool: no target of its own.
    expect(h.pool.imageOf(`build-base:${(await h.images.resolve(P, undefined)).id}`)).toBeUndefined();

    let since = h.runtime.calls.length;
    await build("app1", "base1", run);
    expect(coldCreates(since)).toHaveLength(1);
    const key = `build-base:${baseId}`;
    await eventually(() => h.pool.readyFor(key, baseId) === 1);
    expect(h.pool.imageOf(key)).toBe(baseId);
    // Made with a build step's limits, so that taking it changes none.
    const kept = [...h.runtime.sandboxes.values()].filter((s) => s.spec.lowers.length === 2);
    expect(kept).toHaveLength(1);
    expect(kept[0]!.spec).toMatchObject(BUILD_LIMITS);

    since = h.runtime.calls.length;
    await build("app2", "base1", run);
    const calls = h.runtime.calls.slice(since);
    expect(coldCreates(since)).toEqual([]);
    expect(calls.some((c) => c.startsWith("reconfigure sb"))).toBe(true);
    // The same image as the build sandbox made for it: same layers' content, same config.
    const [a, b] = [await h.images.resolve(P, "app1"), await h.images.resolve(P, "app2")];
    expect(b.layers.length).toBe(a.layers.length);
    expect(b.config).toEqual(a.config);
    const sbA = await h.sandboxes.create(P, { image: "app1", allowInternetAccess: false });
    const sbB = await h.sandboxes.create(P, { image: "app2", allowInternetAccess: false });
    expect(await readText(h, sbB.id, "/step.txt")).toBe("step\nbase\n");
    expect(await readText(h, sbB.id, "/step.txt")).toBe(await readText(h, sbA.id, "/step.txt"));
    // Refilled for the next build.
    await eventually(() => h.pool.readyFor(key, baseId) === 1);

    // The base image goes: so does its target, and its blank.
    await h.images.remove(P, "base1");
    h.pool.refill();
    await eventually(() => h.pool.imageOf(key) === undefined && h.pool.readyFor(key) === 0);
  });
});

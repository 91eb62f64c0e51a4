// The purge of abandoned Tensorlake template builds: the policy (age, count, running builds kept)
// and TlImageBuilds applying it on its timer, with the template builds in a real SQLite store.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Services } from "../../services/services.js";
import { TemplateBuilds } from "../../services/template-builds.js";
import { openStores } from "../../store/open-stores.js";
import type { Stores } from "../../store/store.js";
import { toPurge, type HeldBuild, type PurgeLimits } from "./build-purge.js";
import { TlImageBuilds } from "./image-builds.js";

const MIN = 60_000;
const LIMITS: PurgeLimits = { maxAgeMs: 15 * MIN, maxCount: 3, everyMs: MIN };
// A COPY from the context: prepare plans it and waits for `tl-rootfs-build`, which never comes.
const DOCKERFILE = "FROM debian-minimal\nCOPY app.txt /app.txt\n";

describe("toPurge", () => {
  const unstarted = (id: string, preparedAt: number): HeldBuild => ({ id, preparedAt, started: false });
  it("drops unstarted builds and uncompleted finished ones by age, never one a builder relays", () => {
    const held: HeldBuild[] = [
      unstarted("old", 0),
      unstarted("young", 10 * MIN),
      { id: "done-long-ago", preparedAt: 0, started: true, settledAt: 1 * MIN },
      { id: "done-recently", preparedAt: 0, started: true, settledAt: 14 * MIN },
      { id: "running", preparedAt: 0, started: true, attached: true },
    ];
    const out = toPurge(held, 20 * MIN, { ...LIMITS, maxCount: 100 });
    expect(out.map((p) => p.id)).toEqual(["old", "done-long-ago"]);
    expect(out[0]!.reason).toMatch(/^abandoned: tl-rootfs-build was not started .* within 15 min/);
    // A finished build is only let go: its state is in the store already.
    expect(out[1]!.reason).toBeUndefined();
  });

  it("cancels a running build that no builder ever attached to, once it is as old", () => {
    const lone = { id: "lone", preparedAt: 0, started: true };
    expect(toPurge([lone], 10 * MIN, LIMITS)).toEqual([]);
    const [out] = toPurge([lone], 16 * MIN, LIMITS);
    expect(out).toEqual({
      id: "lone",
      reason: expect.stringMatching(/^abandoned: no builder sandbox .* build cancelled/),
    });
    expect(toPurge([{ ...lone, attached: true }], 16 * MIN, LIMITS)).toEqual([]);
  });

  it("keeps at most maxCount, dropping the oldest idle ones first", () => {
    const held = [
      { id: "running", preparedAt: 0, started: true, attached: true },
      ...["a", "b", "c", "d", "e"].map((id, i) => unstarted(id, (i + 1) * 1000)),
    ];
    const out = toPurge(held, 10_000, LIMITS);
    expect(out.map((p) => p.id)).toEqual(["a", "b", "c"]);
    expect(out[0]!.reason).toMatch(/more than 3 template builds/);
    expect(toPurge(held.slice(0, 3), 10_000, LIMITS)).toEqual([]);
  });
});

describe("TlImageBuilds purge", () => {
  let dir = "";
  let stores: Stores;
  let builds: TlImageBuilds;
  let templates: TemplateBuilds;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "tl-purge-"));
    stores = await openStores({ kind: "sqlite", path: join(dir, "sbx.db") });
    templates = new TemplateBuilds(stores.images);
    builds = new TlImageBuilds({ templateBuilds: templates } as unknown as Services, LIMITS);
  });
  afterEach(async () => {
    vi.useRealTimers();
    await builds.purge(Number.MAX_SAFE_INTEGER); // stops the timer
    await stores.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("fails and forgets a build whose builder never started, on its timer", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval", "Date"] });
    const p = await builds.prepare("default", "app", DOCKERFILE);
    expect(p.started).toBe(false);
    expect(builds.held).toBe(1);
    await vi.advanceTimersByTimeAsync(10 * MIN);
    expect(builds.held).toBe(1);
    await vi.advanceTimersByTimeAsync(7 * MIN);
    expect(builds.held).toBe(0);
    const rec = await templates.get("default", p.buildId);
    expect(rec.state).toBe("failed");
    expect(rec.failure).toMatch(/abandoned: tl-rootfs-build was not started/);
    // The SDK coming back late gets the reason (412), from the store.
    await expect(builds.get("default", p.buildId)).rejects.toMatchObject({
      code: "failed_precondition",
      message: expect.stringMatching(/abandoned/),
    });
    await expect(builds.result("default", p.buildId)).rejects.toMatchObject({ code: "failed_precondition" });
    await expect(p.image).rejects.toMatchObject({ code: "failed_precondition" });
  });

  it("cancels a build that started at prepare but that no builder ever relays", async () => {
    // A build that needs no context starts at prepare; the fake build service runs until cancelled.
    const cancelled: string[] = [];
    let stop!: () => void;
    const ended = new Promise<void>((r) => (stop = r));
    const buildService = {
      create: async () => ({ id: "bd-1" }),
      cancel: async (_project: string, id: string) => {
        cancelled.push(id);
        stop();
      },
      async *events() {
        await ended;
        yield { type: "done", build: { failure: { message: "cancelled" } } };
      },
    };
    builds = new TlImageBuilds({ templateBuilds: templates, builds: buildService } as unknown as Services, LIMITS);
    const p = await builds.prepare("default", "lone", "FROM debian-minimal\nRUN true\n");
    expect(p.started).toBe(true);
    expect(await builds.purge(Date.now() + 10 * MIN)).toBe(0);
    expect(await builds.purge(Date.now() + 16 * MIN)).toBe(1);
    expect(cancelled).toEqual(["bd-1"]);
    await expect(p.image).rejects.toMatchObject({ message: expect.stringMatching(/no builder sandbox/) });
    expect((await templates.get("default", p.buildId)).failure).toMatch(/abandoned: no builder sandbox/);
  });

  it("bounds how many prepared builds it holds", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await builds.prepare("default", `app${i}`, DOCKERFILE)).buildId);
    expect(builds.held).toBe(5);
    expect(await builds.purge()).toBe(2);
    expect(builds.held).toBe(3);
    expect((await templates.get("default", ids[0]!)).state).toBe("failed");
    expect((await templates.get("default", ids[1]!)).state).toBe("failed");
    expect((await templates.get("default", ids[4]!)).state).toBe("prepared");
    await expect(builds.get("default", ids[4]!)).resolves.toMatchObject({ buildId: ids[4] });
  });
});

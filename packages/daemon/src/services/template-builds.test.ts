// Tensorlake template builds in the store: their states, project scoping, and what a daemon
// restart does to the ones in progress (failed with the reason) and to finished ones (kept).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openStores } from "../store/open-stores.js";
import type { Stores } from "../store/store.js";
import { RESTARTED, TemplateBuilds } from "./template-builds.js";

let dir = "";
let stores: Stores;
const open = async () => (stores = await openStores({ kind: "sqlite", path: join(dir, "sbx.db") }));

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "tl-builds-"));
  await open();
});
afterEach(async () => {
  await stores.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("TemplateBuilds", () => {
  it("records a build's states and hides it from other projects", async () => {
    const t = new TemplateBuilds(stores.images);
    const b = await t.create("default", "app");
    expect(b).toMatchObject({ state: "prepared", name: "app", imageId: null });
    await t.building(b.id);
    await t.succeeded(b.id, "sha256:abc");
    expect(await t.get("default", b.id)).toMatchObject({ state: "succeeded", imageId: "sha256:abc" });
    await expect(t.get("other", b.id)).rejects.toMatchObject({ code: "not_found" });
    await expect(t.get("default", "tlb-none")).rejects.toMatchObject({ code: "not_found" });
  });

  it("fails the builds in progress at the next start, keeps the finished ones", async () => {
    const before = new TemplateBuilds(stores.images);
    const prepared = await before.create("default", "a");
    const running = await before.create("default", "b");
    await before.building(running.id);
    const done = await before.create("default", "c");
    await before.succeeded(done.id, "sha256:c");
    const failed = await before.create("default", "d");
    await before.failed(failed.id, "RUN false: exit 1");
    await stores.close();
    await open();
    const after = new TemplateBuilds(stores.images);
    expect(await after.reconcile()).toBe(2);
    for (const id of [prepared.id, running.id])
      expect(await after.get("default", id)).toMatchObject({ state: "failed", failure: RESTARTED });
    expect(await after.get("default", done.id)).toMatchObject({ state: "succeeded", imageId: "sha256:c" });
    expect(await after.get("default", failed.id)).toMatchObject({ state: "failed", failure: "RUN false: exit 1" });
    expect(await after.reconcile()).toBe(0);
  });
});

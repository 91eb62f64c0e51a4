// BuildService and the build engine on the fake runtime with a real layer store: each step that
// changes files runs in its own build sandbox, the image registers and sandboxes start from it,
// a rebuild is all cached, a failing step is reported and leaves nothing behind, and a build
// can be cancelled.
import { readdir } from "node:fs/promises";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ImageDefinition, Step } from "@sbx-sh/protocol";
import type { BuildEvent } from "../domain/build-events.js";
import type { BuildRecord } from "../domain/records.js";
import {
  BUILD_LIMITS,
  eventually,
  readText,
  startServices,
  uploadContext,
  type ServiceHarness,
} from "./testing/service-harness.js";

let h: ServiceHarness;
beforeEach(async () => {
  h = await startServices();
});
afterEach(async () => {
  await h.close();
});

const P = "default";
const layerDirs = async (): Promise<string[]> => (await readdir(h.layerStore.root).catch(() => [])).sort();
const buildSandboxes = (): string[] => [...h.runtime.sandboxes.keys()].filter((id) => id.startsWith("bld"));
const creates = (): string[] => h.runtime.calls.filter((c) => c.startsWith("create bld"));

/** Starts a build and follows it to its end. */
async function build(
  steps: Step[],
  name = "app",
  opts: { noCache?: boolean; replace?: boolean } = {},
): Promise<{ rec: BuildRecord; events: BuildEvent[] }> {
  const definition: ImageDefinition = { name, baseImage: "fake-base", steps };
  const started = await h.builds.create(P, { definition, ...opts });
  const events: BuildEvent[] = [];
  for await (const ev of h.builds.events(P, started.id, true)) events.push(ev);
  return { rec: await h.builds.get(P, started.id), events };
}

async function appSteps(): Promise<Step[]> {
  const ctx = await uploadContext(h, [{ name: "app.txt", file: "the app\n" }]);
  return [
    { op: "run", command: "echo built > /built.txt" },
    { op: "env", key: "APP_HOME", value: "/opt/app" },
    { op: "workdir", path: "/opt/app" },
    { op: "copy", context: ctx.digest, sources: ctx.sources, dest: "." },
    { op: "run", command: "cat app.txt > copy-seen.txt" },
  ];
}

describe("BuildService", () => {
  it("runs each file-changing step in its own build sandbox and registers the image", async () => {
    const { rec, events } = await build(await appSteps());
    expect(rec).toMatchObject({ state: "succeeded", steps: 5, failure: null });
    const done = events.at(-1);
    expect(done).toMatchObject({ type: "done", image: { name: "app", tag: "latest", id: rec.imageId } });
    expect(events.filter((e) => e.type === "step").map((e) => (e as { cached: boolean }).cached)).toEqual([
      false,
      false,
      false,
      false,
      false,
    ]);
    // run, workdir, copy, run: four build sandboxes, all gone again; env needs none.
    expect(creates()).toHaveLength(4);
    expect(buildSandboxes()).toEqual([]);
    expect(await layerDirs()).toHaveLength(4);

    const img = await h.images.resolve(P, "app");
    expect(img.layers).toHaveLength(4);
    expect(img.config).toMatchObject({ workingDir: "/opt/app" });
    expect(img.config.env).toContain("APP_HOME=/opt/app");
    const s = await h.sandboxes.create(P, { image: "app" });
    expect(await readText(h, s.id, "/built.txt")).toBe("built\n");
    expect(await readText(h, s.id, "/opt/app/app.txt")).toBe("the app\n");
    expect(await readText(h, s.id, "/opt/app/copy-seen.txt")).toBe("the app\n");
    expect(h.runtime.sandboxes.get(s.id)!.spec.workingDir).toBe("/opt/app");
  });

  it("gives build sandboxes the build limits, and a network slot only to RUN steps, freed after", async () => {
    const specs: Array<{ netSlot: number | null; cpus: number; memoryMb: number; hostname: string }> = [];
    const create = h.runtime.create.bind(h.runtime);
    h.runtime.create = (spec) => (specs.push(spec), create(spec));
    await build(await appSteps());
    expect(specs.map((s) => s.netSlot === null)).toEqual([false, true, true, false]);
    for (const s of specs) expect(s).toMatchObject({ ...BUILD_LIMITS, hostname: "build" });
    expect((await h.sandboxes.create(P, {})).netSlot).toBe(0);
  });

  it("caches: the same definition again reuses every step and gives the same image", async () => {
    const steps = await appSteps();
    const first = await build(steps);
    const before = { creates: creates().length, dirs: await layerDirs() };
    const again = await build(steps);
    expect(again.rec.state).toBe("succeeded");
    const stepEvents = again.events.filter((e) => e.type === "step");
    expect(stepEvents).toHaveLength(5);
    expect(stepEvents.every((e) => e.type === "step" && e.cached)).toBe(true);
    expect(creates().length).toBe(before.creates);
    expect(await layerDirs()).toEqual(before.dirs);
    expect(again.rec.imageId).toBe(first.rec.imageId);
  });

  it("reports a failing step (number, text, exit code, last lines), leaves no image or sandbox, and keeps the steps it ran cached", async () => {
    const steps: Step[] = [
      { op: "run", command: "echo fine > /a.txt" },
      { op: "env", key: "X", value: "1" },
      { op: "run", command: "echo compiling; echo 'error: no such file' >&2; exit 3" },
    ];
    const { rec, events } = await build(steps);
    expect(rec.state).toBe("failed");
    expect(rec.failure).toMatchObject({
      step: 3,
      text: "RUN echo compiling; echo 'error: no such file' >&2; exit 3",
      exitCode: 3,
      lastLines: ["compiling", "error: no such file"],
    });
    expect(events.at(-1)).toMatchObject({ type: "done", image: null });
    expect(await h.stores.images.findImage(P, "app", "latest")).toBeUndefined();
    expect(buildSandboxes()).toEqual([]);
    await expect(h.images.resolve(P, "app")).rejects.toMatchObject({ code: "image_not_found" });
    // Step 1's layer stays (as BuildKit keeps it), through collections and a daemon restart.
    expect(await layerDirs()).toHaveLength(1);
    h = await h.restart();
    await h.gc.collect();
    expect(await layerDirs()).toHaveLength(1);
    // The retry after the fix runs only the fixed step.
    const creates = h.runtime.calls.filter((c) => c.startsWith("create bld")).length;
    const retry = await build([...steps.slice(0, 2), { op: "run", command: "echo fixed > /b.txt" }]);
    expect(retry.rec.state).toBe("succeeded");
    const cached = retry.events.flatMap((e) => (e.type === "step" ? [e.cached] : []));
    expect(cached).toEqual([true, true, false]);
    expect(h.runtime.calls.filter((c) => c.startsWith("create bld")).length).toBe(creates + 1);
  });

  it("keeps a failed --no-cache rebuild's steps across a restart, layers of their own included, for the retry", async () => {
    const one: Step = { op: "run", command: "echo one > /one" };
    await build([one]);
    const first = await h.images.resolve(P, "app");
    // Step 1 runs again under a key of its own (the first image holds its key's layer); step 2 fails.
    const failed = await build([one, { op: "run", command: "exit 3" }], "app", { noCache: true, replace: true });
    expect(failed.rec.state).toBe("failed");
    expect(await layerDirs()).toHaveLength(2);
    h = await h.restart();
    await h.gc.collect();
    expect(await layerDirs()).toHaveLength(2);
    // The retry reuses the rebuild's step 1, the newest, not the first image's.
    const retry = await build([one, { op: "run", command: "echo fixed > /b.txt" }], "app", { replace: true });
    expect(retry.events.flatMap((e) => (e.type === "step" ? [e.cached] : []))).toEqual([true, false]);
    const layers = (await h.images.resolve(P, "app")).layers;
    expect(layers[0]!.key).not.toBe(first.layers[0]!.key);
    expect(await h.stores.images.getStepLayer(first.layers[0]!.key)).toMatchObject({ key: layers[0]!.key });
  });

  it("refuses a name clash before the first step runs; --replace builds it; an unchanged rebuild is no clash", async () => {
    await build([{ op: "run", command: "echo one > /one" }]);
    const before = creates().length;
    const other: ImageDefinition = { name: "app", baseImage: "fake-base", steps: [{ op: "run", command: "echo two" }] };
    await expect(h.builds.create(P, { definition: other })).rejects.toMatchObject({
      code: "already_exists",
      message: expect.stringMatching(/already exists.*--replace/),
    });
    expect(creates().length).toBe(before);
    expect(await h.builds.list(P)).toHaveLength(1);
    const again = await build([{ op: "run", command: "echo one > /one" }]);
    expect(again.rec.state).toBe("succeeded");
    const replaced = await h.builds.create(P, { definition: other, replace: true });
    for await (const _ of h.builds.events(P, replaced.id, true));
    expect(await h.builds.get(P, replaced.id)).toMatchObject({ state: "succeeded" });
  });

  it("cancels a running build: its sandbox is stopped and nothing is registered", async () => {
    const definition: ImageDefinition = {
      name: "slow",
      baseImage: "fake-base",
      steps: [{ op: "run", command: "sleep 30" }],
    };
    const started = await h.builds.create(P, { definition });
    await eventually(() => buildSandboxes().length === 1);
    await h.builds.cancel(P, started.id);
    const events: BuildEvent[] = [];
    for await (const ev of h.builds.events(P, started.id, true)) events.push(ev);
    expect(await h.builds.get(P, started.id)).toMatchObject({ state: "cancelled", failure: null });
    expect(buildSandboxes()).toEqual([]);
    expect(await h.stores.images.findImage(P, "slow", "latest")).toBeUndefined();
    expect(await layerDirs()).toEqual([]);
  });

  it("refuses a build whose copy context was not uploaded, and a second build of the same name", async () => {
    const missing = "sha256:" + "0".repeat(64);
    await expect(
      h.builds.create(P, {
        definition: {
          name: "app",
          baseImage: "fake-base",
          steps: [{ op: "copy", context: missing, sources: [{ name: "x", type: "file" }], dest: "/x" }],
        },
      }),
    ).rejects.toMatchObject({ code: "failed_precondition" });
    const slow: ImageDefinition = { name: "app", baseImage: "fake-base", steps: [{ op: "run", command: "sleep 30" }] };
    const first = await h.builds.create(P, { definition: slow });
    await expect(h.builds.create(P, { definition: slow })).rejects.toMatchObject({ code: "already_exists" });
    await h.builds.cancel(P, first.id);
  });

  it("fails builds a daemon died during, at the next start", async () => {
    const slow: ImageDefinition = { name: "app", baseImage: "fake-base", steps: [{ op: "run", command: "sleep 30" }] };
    const b = await h.builds.create(P, { definition: slow });
    await eventually(() => buildSandboxes().length === 1);
    // A killed daemon's build stays "running" in the store.
    h = await h.restart({ startup: false });
    await h.stores.images.updateBuild(b.id, { state: "running", endedAt: null });
    await h.startup();
    expect(await h.builds.get(P, b.id)).toMatchObject({ state: "failed" });
    expect((await h.builds.get(P, b.id)).failure?.message).toMatch(/daemon stopped during the build/);
  });
});

// The builder's logic above the runtime: cache keys, cache hits and misses, config steps, failure
// reports and cleanup. The runtime here is a fake that records calls; the real one is exercised
// by test/images.e2e.test.ts.
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import type { BuildProgressEvent } from "../domain/build-events.js";
import type { LayerSource, SandboxRuntime } from "../runtime/runtime.js";
import type { LayerRecord } from "../domain/records.js";
import { runBuild, type BuilderDeps } from "./builder.js";
import { StepFailure } from "./execute-step.js";
import { stepKey } from "./step-cache.js";
import { copyArgs } from "./copy-step.js";
import type { ImageDefinition } from "@sbx-sh/protocol";
import { tempDirLayers } from "../testing/temp-dir-layers.js";
import { memoryStepCache } from "../testing/memory-step-cache.js";

function fakeDeps(exitCodes: number[] = []) {
  const calls: string[] = [];
  const cache = new Map<string, LayerRecord>();
  const runtime = {
    create: async (spec: { id: string; lowers: string[] }) => void calls.push(`create ${spec.lowers.length}`),
    destroy: async () => void calls.push("destroy"),
    resolveUser: async () => "0:0",
    run: async (_id: string, spec: { argv: string[] }, onOutput: (s: "stdout" | "stderr", d: Buffer) => void) => {
      calls.push(`run ${spec.argv.join(" ")}`);
      onOutput("stdout", Buffer.from("line 1\nline 2\n"));
      return exitCodes.shift() ?? 0;
    },
    extractArchive: async () => void calls.push("extract"),
    exportLayer: async <T>(_id: string, opts: { live: boolean }, consume: (layer: LayerSource) => Promise<T>) => {
      calls.push(opts.live ? "export live" : "capture");
      return consume({ kind: "directory", path: "/upper" });
    },
  } as unknown as SandboxRuntime;
  const layers = tempDirLayers();
  const deps: BuilderDeps = {
    runtime,
    layers,
    cache: memoryStepCache(cache),
    openContext: () => Readable.from([]),
    reserveNetSlot: async () => 7,
    releaseNetSlot: () => undefined,
    limits: { cpus: 1, memoryMb: 512, pidsLimit: 100, diskMb: 100 },
  };
  return { deps, calls, cache };
}

const base = {
  name: "debian-minimal",
  id: "sha256:base",
  dir: "/base",
  config: { env: ["PATH=/bin"], workingDir: "/", user: "root", entrypoint: null, cmd: null, systemd: false },
};
const ctx = "sha256:" + "a".repeat(64);
const def: ImageDefinition = {
  name: "app",
  baseImage: "debian-minimal",
  steps: [
    { op: "run", command: "apt-get install x", source: { file: "image.ts", line: 3 } },
    { op: "env", key: "APP", value: "/opt/app" },
    { op: "workdir", path: "app" },
    { op: "copy", context: ctx, sources: [{ name: "src", type: "dir" }], dest: "src/", text: 'copy("src/", "src/")' },
    { op: "user", user: "1000" },
  ],
};

async function build(deps: BuilderDeps, d = def, noCache = false) {
  const events: BuildProgressEvent[] = [];
  const result = await runBuild(d, base, deps, {
    noCache,
    signal: new AbortController().signal,
    emit: (e) => void events.push(e),
  });
  return { result, events, cached: events.flatMap((e) => (e.type === "step" ? [e.cached] : [])) };
}

describe("builder", () => {
  it("builds layers for file-changing steps, config for the rest, stacking each on the ones before", async () => {
    const { deps, calls } = fakeDeps();
    const { result, events } = await build(deps);
    expect(result.layers).toHaveLength(3);
    expect(result.config).toMatchObject({ workingDir: "/app", user: "1000" });
    expect(result.config.env).toContain("APP=/opt/app");
    expect(calls.filter((c) => c.startsWith("create"))).toEqual(["create 1", "create 2", "create 3"]);
    expect(calls).toContain("run /.sbx/busybox mkdir -p /app");
    expect(calls.some((c) => c.startsWith("run /.sbx/busybox sh -c"))).toBe(true);
    expect(events.filter((e) => e.type === "log").length).toBe(3);
  });

  it("reuses every step of an unchanged definition and rebuilds from the first changed step", async () => {
    const { deps, calls } = fakeDeps();
    await build(deps);
    calls.length = 0;
    expect((await build(deps)).cached).toEqual([true, true, true, true, true]);
    expect(calls).toEqual([]);
    // A layer directory that went missing is rebuilt, not trusted.
    const { rmSync } = await import("node:fs");
    rmSync((await build(deps)).result.layers[2]!.dir, { recursive: true });
    expect((await build(deps)).cached).toEqual([true, true, true, false, true]);
    const changed = {
      ...def,
      steps: def.steps.map((s, i) => (i === 2 ? { op: "workdir" as const, path: "other" } : s)),
    };
    expect((await build(deps, changed)).cached).toEqual([true, true, false, false, false]);
    expect((await build(deps, def, true)).cached).toEqual([false, false, false, false, false]);
  });

  it("keys steps by what they do, not where they were declared", () => {
    const a = stepKey("p", { op: "run", command: "x", source: { file: "a.ts", line: 1 } });
    const b = stepKey("p", { op: "run", command: "x", source: { file: "b.ts", line: 9 } });
    expect(a).toBe(b);
    expect(stepKey("q", { op: "run", command: "x" })).not.toBe(a);
    expect(stepKey("p", { op: "copy", context: ctx, sources: [{ name: "a", type: "file" }], dest: "/d" })).not.toBe(
      stepKey("p", {
        op: "copy",
        context: "sha256:" + "b".repeat(64),
        sources: [{ name: "a", type: "file" }],
        dest: "/d",
      }),
    );
  });

  it("reports a failing step with its number, exit code and last lines, and removes its sandbox", async () => {
    const { deps, calls } = fakeDeps([3]);
    const err = await build(deps).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StepFailure);
    expect(err).toMatchObject({ step: 1, exitCode: 3, lastLines: ["line 1", "line 2"] });
    expect(calls).toContain("destroy");
    expect(calls).not.toContain("capture");
  });

  it("places copies with Docker's rules", () => {
    const step = {
      op: "copy" as const,
      context: ctx,
      sources: [{ name: "a.txt", type: "file" as const }],
      dest: "out",
    };
    expect(copyArgs(step, "/work")).toEqual(["/work/out", "0", "", "", "0:file:0:a.txt"]);
    expect(copyArgs({ ...step, dest: "out/" }, "/work")[1]).toBe("1");
    expect(copyArgs({ ...step, sources: [...step.sources, { name: "b", type: "dir" }] }, "/")[1]).toBe("1");
    expect(copyArgs({ ...step, dest: "/abs", chown: "1000:1000", chmod: "0644" }, "/work")).toEqual([
      "/abs",
      "0",
      "1000:1000",
      "0644",
      "0:file:0:a.txt",
    ]);
  });
});

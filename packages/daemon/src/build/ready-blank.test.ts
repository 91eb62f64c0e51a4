// A build's first executed step in a ready warm-pool blank (./ready-blank.ts), above the runtime:
// which steps may take one, what it is reconfigured to, what happens to one that does not fit or
// cannot be reconfigured, and that a build executing nothing takes none.
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import type { ImageDefinition } from "@sbx-sh/protocol";
import type { SandboxSpec } from "../domain/sandbox-spec.js";
import type { LayerRecord } from "../domain/records.js";
import type { LayerSource, SandboxRuntime } from "../runtime/runtime.js";
import { runBuild, type BuilderDeps } from "./builder.js";
import type { ReadyBlank } from "./ready-blank.js";
import { tempDirLayers } from "../testing/temp-dir-layers.js";
import { memoryStepCache } from "../testing/memory-step-cache.js";

const base = {
  name: "debian-minimal",
  id: "sha256:base",
  dir: "/base",
  config: { env: ["PATH=/bin"], workingDir: "/", user: "root", entrypoint: null, cmd: null, systemd: false },
};
const LIMITS = { cpus: 1, memoryMb: 4096, pidsLimit: 4096, diskMb: 8192 };
const blankSpec = (id: string, lowers = ["/base"], netSlot: number | null = 5): SandboxSpec => ({
  id,
  lowers,
  hostname: id,
  env: [],
  workingDir: "/",
  cpus: 1,
  memoryMb: 512,
  pidsLimit: 256,
  diskMb: 1024,
  netSlot,
});

function setup(opts: { blanks?: ReadyBlank[]; reconfigureFails?: boolean } = {}) {
  const calls: string[] = [];
  const ready = [...(opts.blanks ?? [])];
  const cache = new Map<string, LayerRecord>();
  const runtime = {
    create: async (spec: SandboxSpec) => void calls.push(`create ${spec.id.slice(0, 3)} ${spec.lowers.length}`),
    reconfigure: async (from: SandboxSpec, to: SandboxSpec) => {
      calls.push(`reconfigure ${from.id} ${to.id} ${to.hostname} ${to.memoryMb} ${to.diskMb} ${to.netSlot}`);
      if (opts.reconfigureFails) throw new Error("crun update failed");
      return { ipAddress: null };
    },
    destroy: async (id: string) => void calls.push(`destroy ${id.slice(0, 3)}`),
    resolveUser: async () => "0:0",
    run: async (id: string) => {
      calls.push(`run in ${id.slice(0, 3)}`);
      return 0;
    },
    exportLayer: async <T>(_id: string, _o: { live: boolean }, consume: (l: LayerSource) => Promise<T>) =>
      consume({ kind: "directory", path: "/upper" }),
  } as unknown as SandboxRuntime;
  const layers = tempDirLayers();
  const released: number[] = [];
  const deps: BuilderDeps = {
    runtime,
    layers,
    cache: memoryStepCache(cache),
    openContext: () => Readable.from([]),
    reserveNetSlot: async () => 7,
    releaseNetSlot: (slot) => void released.push(slot),
    limits: LIMITS,
    readyBlanks: {
      take: (imageId, network) => {
        calls.push(`take ${imageId} ${network}`);
        const i = ready.findIndex((b) => (b.spec.netSlot !== null) === network);
        return i < 0 ? undefined : ready.splice(i, 1)[0];
      },
      discard: async (b) => void calls.push(`discard ${b.spec.id}`),
      refill: () => void calls.push("refill"),
    },
  };
  return { deps, calls, released };
}

const def: ImageDefinition = {
  name: "app",
  baseImage: "debian-minimal",
  steps: [
    { op: "env", key: "A", value: "1" },
    { op: "run", command: "true" },
    { op: "run", command: "true again" },
  ],
};

const build = (deps: BuilderDeps, noCache = false) =>
  runBuild(def, base, deps, { noCache, signal: new AbortController().signal, emit: () => undefined });

describe("ready blanks for a build's first step", () => {
  it("runs the first executed step in a blank of the base, with the build's limits, and gives its slot back", async () => {
    const { deps, calls, released } = setup({ blanks: [{ spec: blankSpec("sb-blank") }] });
    await build(deps);
    // Only the first step is on the bare base; the second stacks on its layer and makes its own.
    expect(calls.filter((c) => /^(take|reconfigure|create|run)/.test(c))).toEqual([
      "take sha256:base true",
      "reconfigure sb-blank sb-blank build 4096 8192 5",
      "run in sb-",
      "create bld 2",
      "run in bld",
    ]);
    expect(calls).toContain("destroy sb-");
    expect(released).toContain(5);
    // The pool makes the blank's replacement once, after the build's last step and teardown.
    expect(calls.filter((c) => c === "refill")).toEqual(["refill"]);
    expect(calls.indexOf("refill")).toBeGreaterThan(calls.lastIndexOf("run in bld"));
    expect(calls.at(-1)).toBe("refill");
  });

  it("takes none when every step is cached, and creates a sandbox when none is ready", async () => {
    const { deps, calls } = setup();
    await build(deps);
    expect(calls.filter((c) => c.startsWith("create"))).toEqual(["create bld 1", "create bld 2"]);
    calls.length = 0;
    await build(deps);
    expect(calls).toEqual([]);
  });

  it("discards a blank that is not on the build's stack or cannot take its limits, then creates one", async () => {
    const other = setup({ blanks: [{ spec: blankSpec("sb-other", ["/other"]) }] });
    await build(other.deps);
    expect(other.calls).toContain("discard sb-other");
    expect(other.calls).not.toContain("run in sb-");
    expect(other.calls.filter((c) => c.startsWith("create"))).toEqual(["create bld 1", "create bld 2"]);

    const failing = setup({ blanks: [{ spec: blankSpec("sb-stuck") }], reconfigureFails: true });
    await build(failing.deps);
    expect(failing.calls).toContain("discard sb-stuck");
    expect(failing.calls.filter((c) => c.startsWith("run in"))).toEqual(["run in bld", "run in bld"]);
  });
});

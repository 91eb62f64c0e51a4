// The daemon's services made by the daemon's own wireServices(), for unit tests: FakeRuntime (with
// the build engine's copy step from ../../testing/copy-step-program.ts), SQLite stores, a real
// LayerStore and context store in a temp data dir, and a fake base image that is the daemon's
// default. What the daemon adds around them (HTTP servers, the port proxy, host network, the
// egress refresher) is left out. `restart()` is a daemon restart on the same data dir and
// runtime; `close()` ends everything.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import type { CopySource } from "@sbx-sh/protocol";
import type { Logger } from "../../common/log.js";
import { FakeRuntime } from "../../runtime/testing/fake-runtime.js";
import { writeTar, type TarEntry } from "../../runtime/testing/memory-tar.js";
import { openStores } from "../../store/open-stores.js";
import type { Stores } from "../../store/store.js";
import { withCopyStep } from "../../testing/copy-step-program.js";
import { fakeBaseImages } from "../../testing/fake-base-images.js";
import { BUILD_LIMITS, wireServices, type WiredServices } from "../../wiring.js";

/** The base image's name (the daemon's default image in these tests). */
export const FAKE_BASE_IMAGE = "fake-base";
/** Its config: a short PATH and a LANG, so tests can tell the image's env from a sandbox's. */
const FAKE_BASE_CONFIG = {
  env: ["PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8"],
  workingDir: "/",
  user: "root",
  systemd: false,
};

/** The limits the daemon gives build steps. */
export { BUILD_LIMITS };

export interface HarnessOptions {
  /** Blanks per kind in the warm pool (daemon default 0 here: most tests want plain creates). */
  warmPool?: number;
  /** Run the daemon's start sequence (reconciles, then the pool's first fill); default true. */
  startup?: boolean;
}

export interface ServiceHarness extends WiredServices {
  dir: string;
  runtime: FakeRuntime;
  stores: Stores;
  /** Warnings and errors the services logged, for a failing test to show. */
  warnings: string[];
  /** The daemon's start sequence: reconciles with what the runtime still has, then fills the pool. */
  startup(): Promise<{ kept: string[]; ended: string[]; leaks: string[]; adopted: number }>;
  /**
   * A daemon restart: these services stop (sandboxes run on), new ones open the same data dir.
   * With `killed`, the old daemon does not shut down: its builds and warm blanks stay on the
   * runtime (only its timers stop, so they cannot fire into the new daemon's records).
   */
  restart(opts?: HarnessOptions & { killed?: boolean }): Promise<ServiceHarness>;
  /** Stops the services, removes every fake sandbox and the data dir. */
  close(): Promise<void>;
}

export async function startServices(opts: HarnessOptions = {}): Promise<ServiceHarness> {
  const runtime = new FakeRuntime();
  runtime.programs.set("sh", withCopyStep(runtime.programs.get("sh")!));
  return wire(await mkdtemp(join(tmpdir(), "sbx-services-")), runtime, opts);
}

async function wire(dir: string, runtime: FakeRuntime, opts: HarnessOptions): Promise<ServiceHarness> {
  const warnings: string[] = [];
  const log: Logger = {
    info: () => undefined,
    warn: (obj, msg) => void warnings.push(`${msg ?? ""} ${JSON.stringify(obj)}`),
    error: (obj, msg) => void warnings.push(`${msg ?? ""} ${JSON.stringify(obj)}`),
  };
  const stores = await openStores({ kind: "sqlite", path: join(dir, "sbx.db") });
  // The daemon's own wiring (../../wiring.ts), on the fake runtime and base image.
  const wired = wireServices({
    dataDir: dir,
    stores,
    runtime,
    bases: fakeBaseImages([FAKE_BASE_IMAGE], FAKE_BASE_CONFIG),
    defaultImage: FAKE_BASE_IMAGE,
    uidBase: 0,
    warmPool: opts.warmPool ?? 0,
    proxyDomain: null,
    log,
  });
  const { builds, snapshots, pool, sandboxes, processes, terminals, ports, gc, oci } = wired;

  const stop = async (): Promise<void> => {
    await terminals.close();
    await builds.close();
    sandboxes.close();
    await pool.close();
    processes.close();
    await stores.close();
  };
  const h: ServiceHarness = {
    ...wired,
    dir,
    runtime,
    stores,
    warnings,
    async startup() {
      const reconciled = await sandboxes.reconcile();
      await builds.reconcile();
      await snapshots.reconcile();
      await ports.prune();
      await gc.reconcile();
      await oci.sweep();
      const adopted = await processes.adoptRunning();
      pool.refill();
      return { ...reconciled, adopted };
    },
    async restart(next = {}) {
      if (next.killed) {
        sandboxes.close();
        processes.close();
        await stores.close();
      } else await stop();
      runtime.restart();
      return wire(dir, runtime, next);
    },
    async close() {
      await stop();
      for (const id of [...runtime.sandboxes.keys()]) await runtime.destroy(id, null);
      await rm(dir, { recursive: true, force: true });
    },
  };
  if (opts.startup ?? true) await h.startup();
  return h;
}

/** Writes a text file into a running sandbox, as `sbx cp` would. */
export function writeText(h: ServiceHarness, sandbox: string, path: string, text: string, project = "default") {
  return h.files.write(project, sandbox, path, Readable.from([Buffer.from(text)]));
}

/** A text file of a running sandbox. */
export async function readText(h: ServiceHarness, sandbox: string, path: string, project = "default") {
  return (await h.files.readSmall(project, sandbox, path, 64 << 20)).toString();
}

/**
 * Uploads the context of a copy step whose i-th source is `sources[i]` (a file, or a directory
 * given as its files by relative path), laid out as the SDK packs it (`<i>/<name>`).
 */
export async function uploadContext(
  h: ServiceHarness,
  sources: Array<{ name: string; file: string } | { name: string; dir: Record<string, string> }>,
  project = "default",
): Promise<{ digest: string; sources: CopySource[] }> {
  const entries: TarEntry[] = [];
  sources.forEach((s, i) => {
    if ("file" in s) return void entries.push({ name: `${i}/${s.name}`, type: "file", data: Buffer.from(s.file) });
    entries.push({ name: `${i}/${s.name}`, type: "directory" });
    for (const [rel, text] of Object.entries(s.dir))
      entries.push({ name: `${i}/${s.name}/${rel}`, type: "file", data: Buffer.from(text) });
  });
  const { digest } = await h.contexts.put(project, writeTar(entries));
  return { digest, sources: sources.map((s) => ({ name: s.name, type: "file" in s ? "file" : "dir" })) };
}

/** Polls `check` until it holds (background work: timeouts, the pool's fill), failing after `ms`. */
export async function eventually(check: () => boolean | Promise<boolean>, ms = 3000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`not true within ${ms} ms: ${check.toString()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

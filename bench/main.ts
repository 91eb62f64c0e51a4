// `npm run bench` (`-- --long` or BENCH_LONG=1 for the long mode, `-- --fresh` to rebuild the
// bench daemon's images from scratch): starts a private daemon (its own dir, subnet 10.230/16 and
// veth prefix, clear of the test slots), runs each section next to its baselines, and writes
// bench/results/latest.{md,json} plus a dated copy. This file only orchestrates; each section
// lives in its own module and returns rows (ours, baseline, ratio, n, target).
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Sandbox, SandboxClient } from "@sbx-sh/sdk";
import { TestDaemon } from "../test/harness.js";
import { cliSection } from "./cli.js";
import { clusterSection } from "./cluster.js";
import { agentSection } from "./agent.js";
import { createSection } from "./create.js";
import { densitySection } from "./density.js";
import { imageSection } from "./images.js";
import { buildStepSection } from "./build-steps.js";
import { networkSection } from "./network.js";
import { observeSection } from "./observe.js";
import { ociSection } from "./oci.js";
import { placementSection } from "./placement.js";
import { Podman } from "./podman.js";
import { RawCrun } from "./raw-crun.js";
import { describeMachine, writeReport } from "./report.js";
import { snapshotSection } from "./snapshots.js";
import { sqliteSection } from "./sqlite.js";
import { tensorlakeSection } from "./tensorlake.js";
import { printSection, type Section } from "./stats.js";

const LONG = process.argv.includes("--long") || process.env.BENCH_LONG === "1";
const MODE = LONG ? "long" : "default";
const N = Number(process.env.BENCH_N ?? (LONG ? 200 : 50));
const IDLE = Number(process.env.BENCH_IDLE ?? (LONG ? 500 : 100));
const SQLITE_RUNS = LONG ? 5 : 3;
const SQLITE_ROWS = 60_000;
/** BENCH_ONLY=agent,create,images,buildsteps,snapshots,sqlite,network,oci,observe,placement,cluster,density,tensorlake,cli runs only those sections (the report says which ran). */
const ONLY = process.env.BENCH_ONLY?.split(",");
/**
 * BENCH_SLOT=0-9: a bench daemon of its own (dir, subnets, veth prefix, TCP port), so two checkouts
 * on one machine can run sections at once without resetting each other's daemon.
 */
const SLOT = process.env.BENCH_SLOT === undefined ? undefined : Number(process.env.BENCH_SLOT);
if (SLOT !== undefined && !(Number.isInteger(SLOT) && SLOT >= 0 && SLOT <= 9))
  throw new Error(`BENCH_SLOT must be one digit, got ${process.env.BENCH_SLOT}`);
const SUFFIX = SLOT === undefined ? "" : `-${SLOT}`;

/** The base tarball the daemon unpacked, for podman's image of the same rootfs. */
function baseTarball(): string | undefined {
  const dir = process.env.SBX_CACHE_DIR ?? "/var/cache/sbx";
  try {
    return readdirSync(join(dir, "bases"))
      .filter((f) => f.startsWith("debian-minimal-") && f.endsWith(".tar.zst"))
      .map((f) => join(dir, "bases", f))[0];
  } catch {
    return undefined;
  }
}

async function section(sections: Section[], key: string, title: string, run: () => Promise<Section>): Promise<void> {
  if (ONLY && !ONLY.includes(key)) return;
  const t0 = performance.now();
  let s: Section;
  try {
    s = await run();
  } catch (err) {
    const lines = (err as Error).message.split("\n").filter((l) => l.trim());
    s = { title, rows: [], notes: [`failed: ${[...new Set([...lines.slice(0, 2), ...lines.slice(-4)])].join(" / ")}`] };
  }
  s.notes = [...(s.notes ?? []), `section took ${((performance.now() - t0) / 1000).toFixed(0)} s`];
  printSection(s);
  sections.push(s);
}

async function main(): Promise<void> {
  const started = performance.now();
  // Described before anything runs, so the commit is the one that was built and measured.
  const machine = describeMachine(ONLY ? `${MODE}, only ${ONLY.join(",")}` : MODE, "not set up");
  const root = `/tmp/sbb-bench${SUFFIX}`;
  // Before the reset, which deletes their state: what a killed run left running.
  RawCrun.removeLeftovers(join(root, "raw"));
  Podman.removeAll(join(root, "podman"));
  const tcp = `127.0.0.1:${7390 + (SLOT === undefined ? 0 : 1 + SLOT)}`; // the Tensorlake section's TCP listener
  const daemon = new TestDaemon({
    name: "bench",
    netIndex: 0,
    root,
    subnet: SLOT === undefined ? "10.230.0.0/16" : `10.${232 + 2 * SLOT}.0.0/16`,
    ifPrefix: `sbb${SLOT === undefined ? "" : `${SLOT}b`}`,
    extraArgs: ["--listen-tcp", tcp, "--ui"],
  });
  // Keeps data/ (the cached bench-sqlite image) unless --fresh.
  await daemon.reset({ keepData: !process.argv.includes("--fresh") });
  await daemon.start();
  const client = new SandboxClient({ host: daemon.host });
  const sections: Section[] = [];
  let podman: Podman | string = "not set up";
  try {
    const probe = await Sandbox.create({ allowInternetAccess: false }, client);
    const lowerdir = join(daemon.root, "data", "layers", (await probe.info()).imageId.replace("sha256:", ""), "rootfs");
    await probe.terminate();
    const raw = new RawCrun(join(daemon.root, "raw"), lowerdir);
    podman = await Podman.setup(join(daemon.root, "podman"), lowerdir, baseTarball());
    if (typeof podman === "string") console.error(`bench: no podman baseline: ${podman}`);
    const pod = typeof podman === "string" ? undefined : podman;

    await section(sections, "agent", "Agent: exec and back-to-back lifecycles", () =>
      withLegacyDaemon((legacy) => agentSection(client, legacy, raw, N)),
    );
    await section(sections, "create", "Create and exec", () => createSection(client, raw, pod, N));
    await section(sections, "images", "Images", () => imageSection(client, daemon.host, raw, pod, Math.min(N, 20)));
    await section(sections, "buildsteps", "Build steps", () => buildStepSection(client, raw, Math.min(N, 10)));
    await section(sections, "snapshots", "Snapshots, restore, fork", () => snapshotSection(client, raw, pod, N));
    await section(sections, "sqlite", "SQLite inside a sandbox vs on the host", () =>
      sqliteSection(client, SQLITE_ROWS, SQLITE_RUNS),
    );
    await section(sections, "network", "Network: egress policy, ports, tunnels", () =>
      networkSection(client, Math.min(N, 30)),
    );
    await section(sections, "oci", "OCI images (one run each)", () =>
      ociSection(client, daemon.host, join(daemon.root, "data")),
    );
    await section(sections, "placement", "Placement in PostgreSQL (simulated nodes)", () => placementSection());
    await section(sections, "cluster", "Cluster: control plane vs a node directly", () =>
      clusterSection(Math.min(N, 40), SLOT),
    );
    await section(sections, "tensorlake", "Tensorlake SDK routes and pools", () =>
      tensorlakeSection(client, `http://${tcp}`, raw, Math.min(N, 30)),
    );
    await section(sections, "cli", "CLI as a fresh process", () => cliSection(client, daemon.host, Math.min(N, 20)));
    await section(sections, "observe", "Events and metrics", () =>
      observeSection(client, daemon.host, Math.min(N, 40), LONG ? 500 : Math.min(IDLE, 100), `http://${tcp}`),
    );
    await section(sections, "density", "Idle sandboxes: memory and density", () =>
      densitySection(client, raw, daemon.child?.pid, IDLE),
    );
  } finally {
    for (const s of await client.list().catch(() => [])) await client.terminate(s.id).catch(() => undefined);
    if (typeof podman !== "string") podman.cleanup();
    await daemon.stop();
    // Kept for a look at what the daemon did during the run (until the next run resets the dir).
    writeFileSync(join(root, "sbxd.log"), daemon.log);
  }
  machine.podman = typeof podman === "string" ? `not used: ${podman}` : podman.version;
  const path = writeReport(machine, sections, (performance.now() - started) / 1000);
  console.log(`\nreport: ${path}`);
}

/** A second daemon of this build with SBX_AGENT=off (the exec path before sbx-agent), for same-run before/after rows. */
async function withLegacyDaemon<T>(fn: (legacy: SandboxClient) => Promise<T>): Promise<T> {
  const legacy = new TestDaemon({
    name: "bench-legacy",
    netIndex: 0,
    root: `/tmp/sbb-bench-legacy${SUFFIX}`,
    subnet: SLOT === undefined ? "10.231.0.0/16" : `10.${233 + 2 * SLOT}.0.0/16`,
    ifPrefix: `sbl${SLOT === undefined ? "" : `${SLOT}l`}`,
  });
  legacy.env.SBX_AGENT = "off";
  await legacy.reset({ keepData: true });
  await legacy.start();
  try {
    return await fn(new SandboxClient({ host: legacy.host }));
  } finally {
    await legacy.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

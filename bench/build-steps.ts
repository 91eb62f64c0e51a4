// Build step costs as the daemon reports them (step_done.durationMs, uncached): each metadata-only
// step kind (ENV, WORKDIR, USER, ENTRYPOINT, CMD, a 20-byte COPY) next to an executed RUN step and
// a COPY over the host-write limit (both run in a build sandbox), in the same builds; and the
// overhead of an executed step (issue 12): RUN `true` steps, whose command takes no time, next to a
// raw crun lifecycle of /bin/true (mount, crun run, umount) measured in the same rounds.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Image, type BuildEvent, type SandboxClient } from "@sbx-sh/sdk";
import type { RawCrun } from "./raw-crun.js";
import { atMost, percentile, timeIt, type Row, type Section } from "./stats.js";

/** RUN steps per overhead build: the first of a build pays for the build sandbox, the rest may reuse it. */
const RUN_STEPS = 4;
/** A pause before each overhead build and baseline, so that no warm-pool refill overlaps them. */
const SETTLE_MS = 600;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function buildStepSection(client: SandboxClient, raw: RawCrun, rounds: number): Promise<Section> {
  const dir = await mkdtemp(join(tmpdir(), "sbb-bench-steps-"));
  await writeFile(join(dir, "small.txt"), "twenty bytes of text");
  await writeFile(join(dir, "big.bin"), Buffer.alloc(3 << 19, 1));
  const kinds = ["RUN", "ENV", "WORKDIR", "USER", "ENTRYPOINT", "CMD", "COPY small", "COPY 1.5 MiB"];
  const samples = new Map<string, number[]>(kinds.map((k) => [k, []]));
  const firstRun: number[] = [];
  const firstRecent: number[] = [];
  const firstCold: number[] = [];
  const laterRuns: number[] = [];
  const rawTrue: number[] = [];
  // A built image that every round builds on: after its first build a blank of it is kept for the
  // next one (services/build-base-blanks.ts).
  await new Image({ name: "bench-steps-base", baseImage: "debian-minimal" })
    .run("echo base > /base")
    .build({ client, replace: true });
  const runSteps = async (baseImage: string, r: number): Promise<BuildEvent[]> => {
    const events: BuildEvent[] = [];
    let image = new Image({ name: "bench-steps-run", baseImage });
    // `true <r>`: each round's first key is new (noCache runs every step anyway).
    for (let i = 0; i < RUN_STEPS; i++) image = image.run(i === 0 ? `true ${r}` : "true");
    await image.build({ client, replace: true, noCache: true, onEvent: (e) => void events.push(e) });
    return events.filter((e) => e.type === "step_done");
  };
  try {
    for (let r = 0; r < rounds; r++) {
      // The warm pool refills after a build took a blank: let it finish before the baseline runs.
      await sleep(SETTLE_MS);
      rawTrue.push(await timeIt(() => raw.lifecycle(["/bin/true"])));
      for (const e of await runSteps("debian-minimal", r))
        if (e.type === "step_done") (e.step === 1 ? firstRun : laterRuns).push(e.durationMs);
      await sleep(SETTLE_MS);
      for (const e of await runSteps("bench-steps-base", r))
        if (e.type === "step_done" && e.step === 1) firstRecent.push(e.durationMs);
      // A base no build has run on yet: its first RUN creates its build sandbox.
      const fresh = `bench-steps-fresh-${r}`;
      await new Image({ name: fresh, baseImage: "debian-minimal" }).run(`echo ${r} > /base`).build({ client });
      await sleep(SETTLE_MS);
      for (const e of await runSteps(fresh, r))
        if (e.type === "step_done" && e.step === 1) firstCold.push(e.durationMs);
      await client.deleteImage(fresh).catch(() => undefined);
      const events: BuildEvent[] = [];
      await new Image({ name: "bench-steps-meta", baseImage: "debian-minimal" })
        .run(`echo ${r} > /r`)
        .env("A", String(r))
        .workdir(`/w${r}/app`)
        .user("root")
        .entrypoint(["/bin/sh"])
        .cmd(["-c", "true"])
        .copy("small.txt", `/w${r}/small.txt`)
        .copy("big.bin", `/w${r}/big.bin`)
        .build({ client, contextDir: dir, replace: true, noCache: true, onEvent: (e) => void events.push(e) });
      for (const e of events) if (e.type === "step_done") samples.get(kinds[e.step - 1]!)!.push(e.durationMs);
    }
  } finally {
    await client.deleteImage("bench-steps-meta").catch(() => undefined);
    await client.deleteImage("bench-steps-run").catch(() => undefined);
    await client.deleteImage("bench-steps-base").catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
  const run = percentile(samples.get("RUN")!, 50);
  const rawP50 = percentile(rawTrue, 50);
  const allRuns = [...firstRun, ...laterRuns];
  const overheadRows: Row[] = (
    [
      ["RUN `true` step overhead, every executed step, p50", allRuns],
      ["RUN `true` step overhead, first RUN of a build, p50", firstRun],
      ["RUN `true` step overhead, first RUN on a built base built on before (build-base blank), p50", firstRecent],
      ["RUN `true` step overhead, first RUN on a base never built on (cold create), p50", firstCold],
      [`RUN \`true\` step overhead, RUN 2–${RUN_STEPS} of a build, p50`, laterRuns],
    ] as const
  ).map(([what, xs]) => {
    const p50 = percentile(xs, 50);
    return {
      what,
      sbx: p50,
      baseline: rawP50,
      baselineName: "raw crun lifecycle of /bin/true (mount, crun run, umount), same rounds",
      n: xs.length,
      target: "≤ 1.2× raw lifecycle (issue 12)",
      pass: atMost(p50 / rawP50, 1.2),
    };
  });
  const rows: Row[] = [
    ...overheadRows,
    ...kinds.slice(1).map((k) => {
      const meta = k !== "COPY 1.5 MiB";
      const p50 = percentile(samples.get(k)!, 50);
      return {
        what: `${k} step, uncached, p50${meta ? "" : " (sandbox path, for comparison)"}`,
        sbx: p50,
        baseline: run,
        baselineName: "an executed RUN step, same builds",
        n: samples.get(k)!.length,
        ...(meta ? { target: "≤ 50 ms (issue 15)", pass: atMost(p50, 50) } : {}),
      };
    }),
  ];
  return {
    title: "Build steps",
    rows,
    notes: [
      "Durations are the daemon's own step_done.durationMs (cache lookup, the step, the layer commit).",
      `Overhead rows: builds of ${RUN_STEPS} uncached RUN \`true\` steps (the command's own time is ~0, so a step's duration is its overhead).`,
      "The first RUN of a build on the default image runs in a blank of the default warm pool when one is ready (build/ready-blank.ts). On another base it runs in a blank kept for that base when a build ran on it recently (services/build-base-blanks.ts: at most 2 bases, 10 min; the first round creates it), else it creates its build sandbox (a fresh base per round here).",
    ],
  };
}

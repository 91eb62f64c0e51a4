// Image benchmarks: a cold build and an unchanged rebuild from the CLI (next to the CLI's own
// floor, `sbx version`, and `podman build` of the same steps as a Containerfile on the same base),
// the overhead per executed step (next to a raw crun lifecycle), and launching from a built image
// (next to launching from the base image). Cold creates on both sides.
import { spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Image, Sandbox, type SandboxClient } from "@sbx-sh/sdk";
import { REPO } from "../test/harness.js";
import type { Podman } from "./podman.js";
import type { RawCrun } from "./raw-crun.js";
import { atMost, percentile, timeInto, timeIt, type Section } from "./stats.js";

export async function imageSection(
  client: SandboxClient,
  host: string,
  raw: RawCrun,
  podman: Podman | undefined,
  n: number,
): Promise<Section> {
  const dir = await mkdtemp(join(tmpdir(), "sbb-bench-img-"));
  await writeFile(join(dir, "app.txt"), "bench\n");
  await writeFile(
    join(dir, "image.ts"),
    `import { Image } from "sbx";\nexport const img = new Image({ name: "bench-img", baseImage: "debian-minimal" })\n  .run("echo one > /one")\n  .env("A", "1")\n  .workdir("/app")\n  .copy("app.txt", "/app/app.txt")\n  .run("echo two > /two");\n`,
  );
  await writeFile(
    join(dir, "Containerfile"),
    "FROM sbb-base\nRUN echo one > /one\nENV A=1\nWORKDIR /app\nCOPY app.txt /app/app.txt\nRUN echo two > /two\n",
  );
  const cli = (args: string[]): string => {
    const r = spawnSync(process.execPath, [join(REPO, "packages", "cli", "bin", "sbx.js"), ...args], {
      env: { ...process.env, SBX_HOST: host },
      encoding: "utf8",
    });
    if (r.status !== 0) throw new Error(`sbx ${args.join(" ")} failed: ${r.stderr}`);
    return r.stdout + r.stderr;
  };
  const create = (extra: string[] = []): string =>
    cli(["image", "create", join(dir, "image.ts"), "--progress", "plain", ...extra]);

  const coldBuild: number[] = [];
  const podCold: number[] = [];
  const failures: string[] = [];
  for (let i = 0; i < Math.max(3, Math.ceil(n / 4)); i++) {
    await timeInto(coldBuild, failures, "a cold 5-step build", async () => create(["--no-cache", "--replace"]));
    if (podman) podCold.push(await timeIt(() => podman.build(dir, true)));
  }
  // The rebuilds below need one complete build to hit the cache, and the name on its image: a
  // --no-cache build's layers get keys of their own (the step cache keeps naming the first build's),
  // so after the cold builds an unchanged build would be a different image, which the name refuses.
  await timeInto([], failures, "a plain build", async () => create(["--replace"]));
  const rebuild: number[] = [];
  const floor: number[] = [];
  const podCached: number[] = [];
  let allCached = true;
  for (let i = 0; i < Math.min(n, 20); i++) {
    let out = "";
    await timeInto(rebuild, failures, "an unchanged rebuild", async () => {
      out = create();
      allCached &&= (out.match(/CACHED \[/g) ?? []).length === 5;
    });
    floor.push(await timeIt(async () => cli(["version"])));
    if (podman) podCached.push(await timeIt(() => podman.build(dir, false)));
  }

  // Ten executed steps whose commands take no time: the build's duration is all overhead.
  const steps = 10;
  const perStep: number[] = [];
  const rawStep: number[] = [];
  for (let r = 0; r < 3; r++) {
    let img = new Image({ name: "bench-steps", baseImage: "debian-minimal" });
    for (let s = 0; s < steps; s++) img = img.run(`echo ${r}-${s} > /s${s}`);
    await timeInto(perStep, failures, "a 10-step build", () => img.build({ client, replace: true, noCache: true }));
    for (let s = 0; s < steps; s++) rawStep.push(await timeIt(() => raw.lifecycle(["/bin/true"])));
  }

  const fromImage: number[] = [];
  const fromBase: number[] = [];
  for (let i = 0; i < n; i++) {
    let sb: Sandbox | undefined;
    fromImage.push(
      await timeIt(async () => {
        sb = await Sandbox.create({ image: "bench-img", name: `bench-img-${i}`, allowInternetAccess: false }, client);
        await sb.run("true");
      }),
    );
    await sb!.terminate();
    fromBase.push(
      await timeIt(async () => {
        sb = await Sandbox.create(
          { image: "debian-minimal", name: `bench-base-${i}`, allowInternetAccess: false },
          client,
        );
        await sb.run("true");
      }),
    );
    await sb!.terminate();
  }
  await client.deleteImage("bench-img").catch(() => undefined);
  await client.deleteImage("bench-steps").catch(() => undefined);
  await rm(dir, { recursive: true, force: true });

  const pod = (xs: number[]): number | undefined => (xs.length ? percentile(xs, 50) : undefined);
  return {
    title: "Images",
    rows: [
      {
        what: "cold build from the CLI (5 steps, --no-cache), p50",
        sbx: percentile(coldBuild, 50),
        baseline: percentile(floor, 50),
        baselineName: "`sbx version`",
        podman: pod(podCold),
        n: coldBuild.length,
      },
      {
        what: `unchanged rebuild from the CLI (5 steps), p50; every step CACHED: ${allCached ? "yes" : "NO"}`,
        sbx: percentile(rebuild, 50),
        baseline: percentile(floor, 50),
        baselineName: "`sbx version`",
        podman: pod(podCached),
        n: rebuild.length,
        target: "≤ 300 ms, every step CACHED",
        pass: allCached && atMost(percentile(rebuild, 50), 300),
      },
      {
        what: "overhead per executed step, mean of 10",
        sbx: percentile(perStep, 50) / steps,
        baseline: percentile(rawStep, 50),
        baselineName: RAW_LIFE,
        n: perStep.length * steps,
        target: "≤ 150 ms (project target)",
        pass: atMost(percentile(perStep, 50) / steps, 150),
      },
      {
        what: "launch from a built image → first `true`, p50 (cold)",
        sbx: percentile(fromImage, 50),
        baseline: percentile(fromBase, 50),
        baselineName: "same from debian-minimal",
        n: fromImage.length,
        target: "ratio ≤ 1.2 (project target)",
        pass: atMost(percentile(fromImage, 50) / percentile(fromBase, 50), 1.2),
      },
    ],
    notes: [
      ...failures.map((f) => `${f} (left out of the figures and of n)`),
      "The CLI runs as a fresh Node process per command (from dist/ after `npm run build`), so `sbx version` is its floor; podman builds the same steps as a Containerfile `FROM` the same debian-minimal tarball imported into private podman storage.",
    ],
  };
}

const RAW_LIFE = "mount+crun run+umount";

// Image benchmarks: an unchanged rebuild from the CLI (next to the CLI's own floor, `sbx
// version`), the overhead per executed step (next to a raw crun lifecycle), and launching from a
// built image (next to launching from the base image). Cold creates on both sides.
import { spawnSync } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Image, Sandbox, type SandboxClient } from "../src/sdk/index.js";
import { REPO } from "../test/harness.js";
import type { RawCrun } from "./raw-crun.js";
import { percentile, timeIt, type Row } from "./stats.js";

export async function imageRows(client: SandboxClient, host: string, raw: RawCrun, n: number): Promise<Row[]> {
  const dir = await mkdtemp(join(tmpdir(), "sbx-bench-img-"));
  await writeFile(join(dir, "app.txt"), "bench\n");
  await writeFile(
    join(dir, "image.ts"),
    `import { Image } from "sbx";\nexport const img = new Image({ name: "bench-img", baseImage: "debian-minimal" })\n  .run("echo one > /one")\n  .env("A", "1")\n  .workdir("/app")\n  .copy("app.txt", "/app/app.txt")\n  .run("echo two > /two");\n`,
  );
  const cli = (args: string[]) => {
    const r = spawnSync(process.execPath, [join(REPO, "bin", "sbx.js"), ...args], { env: { ...process.env, SBX_HOST: host }, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`sbx ${args.join(" ")} failed: ${r.stderr}`);
  };
  cli(["image", "create", join(dir, "image.ts"), "--progress", "plain"]);
  const rebuild: number[] = [];
  const floor: number[] = [];
  for (let i = 0; i < Math.min(n, 20); i++) {
    rebuild.push(await timeIt(async () => cli(["image", "create", join(dir, "image.ts"), "--progress", "plain"])));
    floor.push(await timeIt(async () => cli(["version"])));
  }

  // Ten executed steps whose commands take no time: the build's duration is all overhead.
  const steps = 10;
  const perStep: number[] = [];
  const rawStep: number[] = [];
  for (let r = 0; r < 3; r++) {
    let img = new Image({ name: "bench-steps", baseImage: "debian-minimal" });
    for (let s = 0; s < steps; s++) img = img.run(`echo ${r}-${s} > /s${s}`);
    perStep.push((await timeIt(() => img.build({ client, replace: true, noCache: true }))) / steps);
    for (let s = 0; s < steps; s++) rawStep.push(await timeIt(() => raw.lifecycle(["/bin/true"])));
  }

  const fromImage: number[] = [];
  const fromBase: number[] = [];
  for (let i = 0; i < n; i++) {
    let sb: Sandbox | undefined;
    fromImage.push(await timeIt(async () => {
      sb = await Sandbox.create({ image: "bench-img", name: `bench-img-${i}`, allowInternetAccess: false }, client);
      await sb.run("true");
    }));
    await sb!.terminate();
    fromBase.push(await timeIt(async () => {
      sb = await Sandbox.create({ image: "debian-minimal", name: `bench-base-${i}`, allowInternetAccess: false }, client);
      await sb.run("true");
    }));
    await sb!.terminate();
  }
  await client.deleteImage("bench-img").catch(() => undefined);
  await client.deleteImage("bench-steps").catch(() => undefined);

  return [
    { what: "unchanged rebuild from the CLI (5 steps), p50", sbx: percentile(rebuild, 50), baseline: percentile(floor, 50), baselineName: "`sbx version`", target: "≤ 300 ms" },
    { what: "overhead per executed step, mean of 10", sbx: percentile(perStep, 50), baseline: percentile(rawStep, 50), baselineName: "mount+crun run+umount", target: "≤ 150 ms" },
    { what: "launch from a built image → first `true`, p50 (cold)", sbx: percentile(fromImage, 50), baseline: percentile(fromBase, 50), baselineName: "same from debian-minimal", target: "ratio ≈ 1" },
  ];
}

// Build step costs as the daemon reports them (step_done.durationMs, uncached): each metadata-only
// step kind (ENV, WORKDIR, USER, ENTRYPOINT, CMD, a 20-byte COPY) next to an executed RUN step and
// a COPY over the host-write limit (both run in a build sandbox), in the same builds.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Image, type BuildEvent, type SandboxClient } from "@sbx-sh/sdk";
import { atMost, percentile, type Row, type Section } from "./stats.js";

export async function buildStepSection(client: SandboxClient, rounds: number): Promise<Section> {
  const dir = await mkdtemp(join(tmpdir(), "sbb-bench-steps-"));
  await writeFile(join(dir, "small.txt"), "twenty bytes of text");
  await writeFile(join(dir, "big.bin"), Buffer.alloc(3 << 19, 1));
  const kinds = ["RUN", "ENV", "WORKDIR", "USER", "ENTRYPOINT", "CMD", "COPY small", "COPY 1.5 MiB"];
  const samples = new Map<string, number[]>(kinds.map((k) => [k, []]));
  try {
    for (let r = 0; r < rounds; r++) {
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
    await rm(dir, { recursive: true, force: true });
  }
  const run = percentile(samples.get("RUN")!, 50);
  const rows: Row[] = kinds.slice(1).map((k) => {
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
  });
  return {
    title: "Build steps",
    rows,
    notes: ["Durations are the daemon's own step_done.durationMs (cache lookup, the step, the layer commit)."],
  };
}

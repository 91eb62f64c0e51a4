// The Tensorlake-compatible routes, driven by the real `tensorlake` SDK (Node 22, a child process;
// times are taken inside it, so Node's start is not counted), next to sbx's own SDK over the same
// TCP listener of the same daemon, sample by sample: create → first `run("true")` and `run("true")` in
// a running sandbox. Plus pool claim → first command (sbx SDK, a pool with warm sandboxes) next to
// the raw `crun run` lifecycle.
//
// Where the create row's gap to sbx's SDK goes (profiled through a logging proxy, wave 4): the
// daemon answers both SDKs' create and run alike; the Tensorlake SDK itself builds a new native
// HTTP client on every `Sandbox.create()` (its reqwest client loads the host's CA store from
// /etc/ssl/certs each time) and another for the sandbox's proxy calls. Two diagnostic rows split
// that out: the client build alone, and create → first run with one client reused.
import { Sandbox, SandboxClient } from "@sbx-sh/sdk";
import { ensureSdk } from "../test/tensorlake/sdk.js";
import { TlDriver } from "./tensorlake-driver.js";
import type { RawCrun } from "./raw-crun.js";
import { atMost, percentile, timeIt, type Section } from "./stats.js";

/** Names the phase a failure happened in (the report shows only the message). */
async function phase<T>(name: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw new Error(`${name}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Waits (untimed) until the daemon's warm pool is full again, both network kinds, so that every
 * create sample of either SDK starts from the same pool: back-to-back creates otherwise drain it
 * and whichever side comes next pays a cold create.
 */
async function refilled(admin: SandboxClient): Promise<void> {
  for (let w = 0; w < 400; w++) {
    const pool = await admin.getPool("default");
    if (pool.ready >= 2 * pool.warm) return;
    await new Promise((r) => setTimeout(r, 25));
  }
}

export async function tensorlakeSection(admin: SandboxClient, tcp: string, raw: RawCrun, n: number): Promise<Section> {
  ensureSdk();
  const token = (await admin.createToken("default")).token!;
  // Sample by sample, one Tensorlake SDK operation then the same with sbx's SDK, so that a load
  // that drifts during the section weighs on both sides alike.
  const driver = await phase("tensorlake SDK", () => TlDriver.start(tcp, token));
  const tl = { create: [] as number[], reused: [] as number[], client: [] as number[], run: [] as number[] };
  const client = new SandboxClient({ host: tcp, token });
  const create: number[] = [];
  const exec: number[] = [];
  const warm = await Sandbox.create({ allowInternetAccess: false }, client);
  try {
    for (let i = 0; i < n; i++) {
      await refilled(admin);
      tl.create.push(await phase("tensorlake SDK", () => driver.time("create")));
      await refilled(admin);
      let sb: Sandbox | undefined;
      create.push(
        await timeIt(async () => {
          sb = await Sandbox.create({ allowInternetAccess: false }, client);
          await sb.run("true");
        }),
      );
      await sb?.terminate();
      // Diagnostics: create → run with one SDK client reused, and building a client alone.
      await refilled(admin);
      tl.reused.push(await phase("tensorlake SDK", () => driver.time("reused")));
      tl.client.push(await phase("tensorlake SDK", () => driver.time("client")));
      for (let k = 0; k < 2; k++) {
        tl.run.push(await phase("tensorlake SDK", () => driver.time("run")));
        exec.push(await timeIt(() => warm.run("true")));
      }
    }
  } finally {
    await driver.stop();
    await warm.terminate();
  }

  // Pool claims, each given time to refill (a claim from a drained pool is a miss, counted apart).
  const pool = await admin.createPool({ warm: 2, allowInternetAccess: false });
  const claim: number[] = [];
  const rawLife: number[] = [];
  for (let i = 0; i < n; i++) {
    for (let w = 0; w < 400 && (await admin.getPool(pool.id)).ready < 2; w++)
      await new Promise((r) => setTimeout(r, 25));
    let sb: Sandbox | undefined;
    claim.push(
      await timeIt(async () => {
        sb = await Sandbox.create({ pool: pool.id }, admin);
        await sb.run("true");
      }),
    );
    await sb?.terminate();
    rawLife.push(await timeIt(() => raw.lifecycle(["/bin/true"])));
  }
  const stats = await admin.getPool(pool.id);
  await admin.deletePool(pool.id);

  const p50 = (xs: number[]) => percentile(xs, 50);
  return {
    title: "Tensorlake SDK routes and pools",
    rows: [
      {
        what: "Tensorlake SDK: create → first run, p50",
        sbx: p50(tl.create),
        baseline: p50(create),
        baselineName: "sbx SDK, same TCP listener",
        n: tl.create.length,
        target: "≤ 1.2× sbx SDK",
        pass: atMost(p50(tl.create) / p50(create), 1.2),
      },
      {
        what: "diagnosis: Tensorlake SDK create → first run, one SDK client reused (createAndConnect), p50",
        sbx: p50(tl.reused),
        baseline: p50(create),
        baselineName: "sbx SDK, same TCP listener",
        n: tl.reused.length,
      },
      {
        what: "diagnosis: the Tensorlake SDK's own client build (in every Sandbox.create), p50",
        sbx: p50(tl.client),
        baseline: p50(create),
        baselineName: "sbx SDK create → first run",
        n: tl.client.length,
      },
      {
        what: "Tensorlake SDK: run `true`, p50",
        sbx: p50(tl.run),
        baseline: p50(exec),
        baselineName: "sbx SDK run, same TCP listener",
        n: tl.run.length,
        target: "≤ 1.2× sbx SDK",
        pass: atMost(p50(tl.run) / p50(exec), 1.2),
      },
      {
        what: `pool claim → first \`true\`, p50 (${stats.hits}/${stats.claims} warm hits)`,
        sbx: p50(claim),
        baseline: p50(rawLife),
        baselineName: "mount+crun run+umount",
        n: claim.length,
        target: "≤ 0.5× raw lifecycle",
        pass: atMost(p50(claim) / p50(rawLife), 0.5),
      },
    ],
  };
}

// Fault injection: rounds of (start an operation, kill -9 the daemon after a random delay,
// restart it, check the invariants). The operation and delay come from a seeded PRNG, printed,
// so a failing round can be replayed: SBX_FAULT_SEED=<seed>; SBX_FAULT_ROUNDS=<n> for a longer run;
// SBX_FAULT_OPS=<op,op> for only some operations.
// Objects committed before (a sandbox with a file, a snapshot, a built image) must survive it all.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Image, Sandbox, SandboxClient, type SandboxInfo } from "@sbx-sh/sdk";
import { openStores } from "../../packages/daemon/src/store/open-stores.js";
import { TestDaemon } from "../harness.js";
import { Invariants, type Marker } from "./invariants.js";

const ALL_OPS = ["create", "exec", "build", "snapshot", "suspend"] as const;
type Op = (typeof ALL_OPS)[number];
/** SBX_FAULT_OPS=suspend,snapshot narrows the rounds to some operations. */
const OPS: Op[] = process.env.SBX_FAULT_OPS
  ? (process.env.SBX_FAULT_OPS.split(",") as Op[]).filter((o) => ALL_OPS.includes(o))
  : [...ALL_OPS];
const SEED = Number(process.env.SBX_FAULT_SEED ?? 7_2026);
const ROUNDS = Number(process.env.SBX_FAULT_ROUNDS ?? 6);
/** Kill windows, about as long as each operation takes, so kills land before, inside and after it. */
const WINDOW_MS: Record<Op, number> = { create: 600, exec: 1500, build: 2500, snapshot: 1500, suspend: 2500 };
const POOL = 2;
const rand = prng(SEED);

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffle<T>(xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

const daemon = new TestDaemon({ name: "faults-kill9", netIndex: 6, extraArgs: ["--warm-pool", String(POOL)] });
let client: SandboxClient;
let inv: Invariants;
let keeper: Sandbox;
const markers = { snapshots: new Map<string, Marker>(), images: new Map<string, Marker>() };

beforeAll(async () => {
  console.log(
    `kill9 faults: seed ${SEED}, ${ROUNDS} rounds of ${OPS.join(",")} (SBX_FAULT_SEED / SBX_FAULT_ROUNDS / SBX_FAULT_OPS to change)`,
  );
  await daemon.reset();
  await daemon.start();
  client = new SandboxClient({ host: daemon.host });
  inv = new Invariants(daemon, client, POOL);
  // Committed before any fault: each must come through every round intact.
  keeper = await Sandbox.create(
    { name: "fault-keeper", allowInternetAccess: true, denyOut: ["192.0.2.0/24"], timeoutSecs: 3600 },
    client,
  );
  await keeper.writeFile("/keeper.txt", "kept\n");
  const snap = await keeper.snapshot();
  markers.snapshots.set(snap.id, { path: "/keeper.txt", content: "kept\n" });
  await new Image({ name: "fault-base", baseImage: "debian-minimal" })
    .run("echo built > /built.txt")
    .run("echo two >> /built.txt")
    .build({ client, replace: true });
  markers.images.set("fault-base:latest", { path: "/built.txt", content: "built\ntwo\n" });
});

afterAll(async () => {
  for (const s of await client.list().catch(() => [] as SandboxInfo[]))
    await client.terminate(s.id).catch(() => undefined);
  await daemon.stop();
});

/** Whatever a round set up before the kill window, and the operation that the kill interrupts. */
interface Round {
  sandbox?: Sandbox;
  op: () => Promise<unknown>;
  /** After the restart: checks of this operation's own outcome; returns a line for the log. */
  verify: () => Promise<string>;
}

async function prepare(op: Op, r: number): Promise<Round> {
  const tag = `r${r}-${SEED}`;
  switch (op) {
    case "create": {
      const before = new Set((await client.list({ all: true })).map((s) => s.id));
      return {
        // With a network and an egress policy, so the kill can land in veth or nft setup.
        op: () => Sandbox.create({ allowInternetAccess: true, denyOut: ["198.51.100.0/24"] }, client),
        verify: async () => {
          const made = (await client.list({ all: true })).filter((s) => !before.has(s.id));
          for (const s of made.filter((x) => x.status === "running")) {
            expect((await (await Sandbox.connect(s.id, client)).run("echo", { args: ["up"] })).stdout).toBe("up\n");
          }
          for (const s of made) expect(["running", "terminated"]).toContain(s.status);
          return made.map((s) => s.status).join(",") || "not created";
        },
      };
    }
    case "exec": {
      const sb = await Sandbox.create({ allowInternetAccess: false }, client);
      return {
        sandbox: sb,
        op: async () =>
          (
            await sb.startProcess("sh", {
              args: ["-c", "for i in 1 2 3 4 5; do echo tick $i; sleep 0.2; done; exit 3"],
            })
          ).wait(),
        verify: async () => {
          expect((await sb.info()).status).toBe("running");
          const procs = await sb.listProcesses();
          const results: string[] = [];
          for (const p of procs) {
            // Every process the store knows ends, and one that ran ran to its end.
            const proc = await sb.getProcess(p.id);
            const res = await Promise.race([
              proc.wait(),
              new Promise<never>((_, rej) =>
                setTimeout(() => rej(new Error(`process ${p.id} (${p.status}) never ends`)), 30_000),
              ),
            ]);
            results.push(String(res.exitCode));
            if (res.exitCode !== null)
              expect({ code: res.exitCode, out: res.stdout }).toEqual({
                code: 3,
                out: "tick 1\ntick 2\ntick 3\ntick 4\ntick 5\n",
              });
          }
          return `processes exited ${results.join(",") || "none"}`;
        },
      };
    }
    case "build": {
      const name = `fault-${tag}`;
      return {
        op: () =>
          new Image({ name, baseImage: "debian-minimal" })
            .run(`echo ${tag} > /r.txt`)
            .run("head -c 30000000 /dev/urandom > /pad")
            .env("ROUND", tag)
            .build({ client }),
        verify: async () => {
          const builds = (await client.listBuilds()).filter((b) => b.imageName === name);
          for (const b of builds) expect(["succeeded", "failed"]).toContain(b.state);
          const listed = (await client.listImages()).filter((i) => i.name === name);
          expect(listed.length).toBe(builds.filter((b) => b.state === "succeeded").length);
          if (listed.length) markers.images.set(`${name}:latest`, { path: "/r.txt", content: `${tag}\n` });
          return builds.map((b) => b.state).join(",") || "not started";
        },
      };
    }
    case "snapshot": {
      const sb = await Sandbox.create({ allowInternetAccess: false, diskMb: 1024 }, client);
      // Enough data that capturing takes a while, so delays land before, during and after.
      await sb.run("sh", { args: ["-c", `echo ${tag} > /snap.txt; head -c 100000000 /dev/urandom > /pad`] });
      return {
        sandbox: sb,
        op: () => sb.snapshot(),
        verify: async () => {
          expect((await sb.info()).status).toBe("running");
          expect((await sb.readFile("/snap.txt")).toString()).toBe(`${tag}\n`);
          const mine = (await client.listSnapshots()).filter((s) => s.sourceSandboxId === sb.id);
          for (const s of mine) {
            expect(["completed", "failed"]).toContain(s.status);
            if (s.status === "completed") markers.snapshots.set(s.id, { path: "/snap.txt", content: `${tag}\n` });
          }
          return mine.map((s) => s.status).join(",") || "not started";
        },
      };
    }
    case "suspend": {
      const sb = await Sandbox.create(
        { name: `fault-${tag}`, allowInternetAccess: true, denyOut: ["203.0.113.0/24"] },
        client,
      );
      await sb.run("sh", { args: ["-c", `echo ${tag} > /susp.txt; head -c 50000000 /dev/urandom > /pad`] });
      return {
        sandbox: sb,
        op: async () => sb.suspend(),
        verify: async () => {
          const status = (await sb.info()).status;
          expect(["running", "suspended"]).toContain(status);
          if (status === "suspended") await sb.resume();
          expect((await sb.readFile("/susp.txt")).toString()).toBe(`${tag}\n`);
          return `${status}, resumed`;
        },
      };
    }
  }
}

describe(`kill -9 at random points (seed ${SEED})`, () => {
  // Every block of five rounds runs each operation once, in a shuffled order, so a short run covers all.
  const order: Op[] = [];
  while (order.length < ROUNDS) order.push(...shuffle([...OPS]));
  const plan = order.slice(0, ROUNDS).map((op) => ({ op, delay: Math.floor(rand() * WINDOW_MS[op]) }));

  it.each(plan.map((p, i) => ({ ...p, r: i + 1 })))(
    "round $r: $op, killed after $delay ms",
    async ({ op, delay, r }) => {
      const round = await prepare(op, r);
      const known = new Set([...inv.containers(), ...(await client.list({ all: true })).map((s) => s.id)]);
      const pending = round.op().then(
        () => "finished",
        (e: unknown) => `failed: ${e instanceof Error ? e.message.split("\n")[0] : String(e)}`,
      );
      await new Promise((res) => setTimeout(res, delay));
      // Containers (build steps, blanks) that exist at the moment of the kill are the daemon's too.
      for (const id of inv.containers()) known.add(id);
      await daemon.stop("SIGKILL");
      for (const id of inv.containers()) known.add(id);
      const outcome = await Promise.race([
        pending,
        new Promise<string>((res) => setTimeout(() => res("client still waiting"), 30_000)),
      ]);
      await daemon.start();

      const own = await round.verify().catch((err: unknown) => {
        console.log(`round ${r} failed; the daemon's last lines:\n${daemon.log.split("\n").slice(-25).join("\n")}`);
        throw err;
      });
      console.log(`round ${r}: ${op} killed after ${delay} ms (client saw: ${outcome}): ${own}`);
      await inv.expectNoLeaks(known);
      expect(await inv.registryProblems(markers)).toEqual([]);
      // The keeper lives through it all, egress policy included.
      expect((await keeper.info()).status).toBe("running");
      expect((await keeper.readFile("/keeper.txt")).toString()).toBe("kept\n");

      if (round.sandbox) await round.sandbox.terminate().catch(() => undefined);
      for (const s of await client.list()) if (s.id !== keeper.id) await client.terminate(s.id).catch(() => undefined);
      await inv.expectNoLeaks(known);
    },
    300_000,
  );
});

describe("a daemon killed between recording a suspend and releasing the sandbox", () => {
  it("finishes the release at start (container, slot, egress rules, processes) and the sandbox resumes whole", async () => {
    const sb = await Sandbox.create(
      { name: `half-suspended-${SEED}`, allowInternetAccess: true, denyOut: ["203.0.113.0/24"] },
      client,
    );
    await sb.writeFile("/half.txt", "half\n");
    const proc = await sb.startProcess("sleep", { args: ["600"] });
    const snap = await sb.snapshot();
    const known = new Set([...inv.containers(), sb.id]);
    await daemon.stop("SIGKILL");
    // Exactly what the dead daemon had written at that point: suspended on its snapshot, with the
    // container, its network slot and its process still there. (The window is too short to hit by timing.)
    const stores = await openStores({ kind: "sqlite", path: join(daemon.env.SBX_DATA_DIR!, "sbx.db") });
    try {
      await stores.meta.updateSandbox(sb.id, { status: "suspended", suspendSnapshotId: snap.id, ipAddress: null });
    } finally {
      await stores.close();
    }
    await daemon.start();
    expect((await sb.info()).status).toBe("suspended");
    await inv.expectNoLeaks(known);
    expect((await proc.info()).status).toBe("exited");
    await sb.resume();
    expect((await sb.readFile("/half.txt")).toString()).toBe("half\n");
    await sb.terminate();
    await inv.expectNoLeaks(known);
  }, 120_000);
});

// PostgreSQL restarted under load, end to end (test/cluster-harness.ts: a control replica on a
// PostgreSQL server this file owns, one crun node). While loops create → exec → terminate and exec
// on sandboxes made before, the server is stopped (fast: every connection cut), kept down a few
// seconds, and started again. Every call either succeeds or fails with a coded error that is not
// `internal` and does not pass the driver's words on; none hangs; the replica and the node keep
// running (same pids); once the server is back, creates and execs work again, and the sandboxes
// made before still answer. Nothing is half-written: what the control plane lists, the placements
// in PostgreSQL and what the node runs are the same sandboxes; each node's allocation counters are
// the sum of its placements (and each quota's usage counters the sum of its project's); and the
// node keeps nothing on the host that no live sandbox owns (test/faults/invariants.ts).
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Sandbox, SbxError, type SandboxClient } from "@sbx-sh/sdk";
import { Fleet, waitFor } from "./cluster-harness.js";
import { Invariants } from "./faults/invariants.js";

const OPTS = { cpus: 0.25, memoryMb: 128, allowInternetAccess: false };
/** A call that takes longer than this hung (generous: a create on a loaded 2-core machine takes seconds). */
const HANG_MS = 90_000;
/** How long the server stays down: long enough that calls meet it down, not only its restart. */
const DOWN_MS = 3_000;
// The driver's and the server's own words: an answer carrying them passed a raw error on.
const DRIVER_WORDS =
  /ECONNREFUSED|ECONNRESET|Connection terminated|terminating connection|database system is (shutting down|starting up)|Client has encountered a connection error|pg_/i;

const fleet = new Fleet({ nodes: ["n1"] });
let client: SandboxClient;

/** What each call under load came to: ok, or the code and message it failed with. */
interface Outcome {
  what: string;
  at: number;
  ok: boolean;
  code?: string;
  message?: string;
}
const outcomes: Outcome[] = [];

/** Runs one call, bounded by HANG_MS, and records how it ended; its value, or undefined if it failed. */
async function call<T>(what: string, p: Promise<T>): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`hung for ${HANG_MS} ms`)), HANG_MS);
  });
  try {
    const v = await Promise.race([p, hung]);
    outcomes.push({ what, at: Date.now(), ok: true });
    return v;
  } catch (err) {
    const e = err as Error;
    const code = err instanceof SbxError ? err.code : `not an SbxError (${e.name})`;
    outcomes.push({ what, at: Date.now(), ok: false, code, message: e.message });
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}

/** A query on the cluster's PostgreSQL, on a connection of its own. */
async function sql<R>(text: string): Promise<R[]> {
  const db = new pg.Client({ connectionString: fleet.pg.url });
  await db.connect();
  try {
    return (await db.query(text)).rows as R[];
  } finally {
    await db.end();
  }
}

beforeAll(async () => {
  await fleet.start();
  client = fleet.client();
});

afterAll(() => fleet.stop());

describe("PostgreSQL restarted under load", () => {
  it("fails or retries each call cleanly, keeps every process up, recovers, and leaves nothing half-written", async () => {
    const before = await Promise.all([Sandbox.create(OPTS, client), Sandbox.create(OPTS, client)]);
    // The replica and the node must never go down: the same processes, running, all along.
    const daemons = [fleet.control(0), fleet.node("n1").daemon];
    const pids = daemons.map((d) => d.child!.pid);
    const stillUp = (): void =>
      daemons.forEach((d, i) => {
        const c = d.child!;
        expect(c.pid).toBe(pids[i]);
        expect(c.exitCode ?? c.signalCode, `sbxd exited:\n${d.log.slice(-3000)}`).toBeNull();
      });
    const started = async () => (await sql<{ t: Date }>("SELECT pg_postmaster_start_time() AS t"))[0]!.t.getTime();
    const firstStart = await started();

    // The load: three loops of create → exec → terminate, and one exec loop on the sandboxes made before.
    let stop = false;
    /** Sandboxes a loop made whose terminate failed: terminated once the server is back. */
    const leftover: string[] = [];
    /** Every sandbox a loop made: none may leave anything on the node's host. */
    const made: string[] = [];
    const createLoop = async (n: number): Promise<void> => {
      while (!stop) {
        const sb = await call(`create ${n}`, Sandbox.create(OPTS, client));
        if (!sb) {
          await new Promise((r) => setTimeout(r, 200));
          continue;
        }
        made.push(sb.id);
        await call(`exec ${n}`, sb.run("echo", { args: ["hi"] }));
        if ((await call(`terminate ${n}`, client.terminate(sb.id))) === undefined) leftover.push(sb.id);
      }
    };
    const execLoop = async (): Promise<void> => {
      for (let i = 0; !stop; i++) {
        const sb = before[i % before.length]!;
        const r = await call(`exec on ${sb.id}`, sb.run("echo", { args: [String(i)] }));
        if (r) expect(r.stdout).toBe(`${i}\n`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const loops = [createLoop(1), createLoop(2), createLoop(3), execLoop()];
    try {
      // Once the load runs (a few calls done), the restart, while a create is in flight: placed under
      // its provisional id, its node creating (that row must not outlive the create's failure).
      await waitFor(() => outcomes.filter((o) => o.ok).length >= 6, HANG_MS, "the load running");
      const inFlight = "SELECT 1 FROM sbx.placements WHERE sandbox_id LIKE 'pending-%'";
      await waitFor(async () => (await sql(inFlight)).length > 0, HANG_MS, "a create in flight");
      await fleet.pg.restart(DOWN_MS);
      const back = Date.now();
      expect(await started()).toBeGreaterThan(firstStart);

      // Within a bounded time after the server is back, every loop's calls succeed again.
      const okSince = (prefix: string) => outcomes.some((o) => o.ok && o.at > back && o.what.startsWith(prefix));
      await waitFor(
        () => (stillUp(), ["create 1", "create 2", "create 3", "exec 1", "exec on"].every(okSince)),
        HANG_MS,
        "creates and execs working again",
      );
    } finally {
      stop = true;
      await Promise.all(loops);
    }

    // Every failure is a coded error a client can act on: not internal, no driver's words, no hang.
    const failed = outcomes.filter((o) => !o.ok);
    const tally = new Map<string, number>();
    const kind = (o: Outcome): string => `${o.what.split(" ")[0]} ${o.code}`;
    for (const o of failed) tally.set(kind(o), (tally.get(kind(o)) ?? 0) + 1);
    console.log(`${outcomes.length} calls under the restart; failed:`, Object.fromEntries(tally));
    const bad = failed.filter((o) => /^internal$|^not an SbxError/.test(o.code!) || DRIVER_WORDS.test(o.message!));
    expect([...new Set(bad.map((o) => `${o.what.split(" ")[0]}: ${o.code}: ${o.message}`))]).toEqual([]);
    // The restart was met: some calls failed while the server was down (a retry may hide others).
    expect(failed.length).toBeGreaterThan(0);

    stillUp();

    // The sandboxes made before still run and answer, through the control plane.
    for (const sb of before) {
      expect((await sb.run("echo", { args: ["still here"] })).stdout).toBe("still here\n");
      expect((await client.get(sb.id)).status).toBe("running");
    }
    // A terminate that failed may have gone through in part (the node destroyed it, the answer was
    // lost): gone is fine; whether it is gone everywhere is checked below.
    for (const id of leftover) {
      const e = await client.terminate(id).then(
        () => undefined,
        (err: unknown) => err,
      );
      if (e) expect((e as SbxError).code, String(e)).toBe("sandbox_not_found");
    }

    // Nothing half-written. After a lease (strays and orphan creates are settled on the node's
    // reports), the control plane's list, the placements and the node's own sandboxes agree.
    const listed = async () =>
      (await fleet.list()).sandboxes
        .filter((s) => s.status !== "terminated")
        .map((s) => s.id)
        .sort();
    const placed = async () =>
      (await sql<{ id: string }>("SELECT sandbox_id AS id FROM sbx.placements ORDER BY 1")).map((r) => r.id);
    const expected = before.map((s) => s.id).sort();
    await waitFor(
      async () =>
        [await listed(), await placed(), await fleet.sandboxesOn("n1")].every(
          (ids) => JSON.stringify(ids) === JSON.stringify(expected),
        ),
      30_000,
      "control plane, placements and node agreeing",
    ).catch(() => undefined);
    expect(await listed()).toEqual(expected);
    expect(await placed()).toEqual(expected);
    expect(await fleet.sandboxesOn("n1")).toEqual(expected);
    expect((await fleet.list()).unavailable).toEqual([]);

    // Each node's allocation counters, and each quota's usage counters, are the sums of the placements.
    const nodes = await sql<{ name: string; exact: boolean; n: number }>(
      `SELECT n.name, n.alloc_sandboxes = count(p.*) AND n.alloc_cpu_millis = coalesce(sum(p.cpu_millis), 0)
         AND n.alloc_memory_mb = coalesce(sum(p.memory_mb), 0) AS exact, n.alloc_sandboxes AS n
       FROM sbx.nodes n LEFT JOIN sbx.placements p ON p.node = n.name GROUP BY n.name ORDER BY 1`,
    );
    expect(nodes).toEqual([{ name: "n1", exact: true, n: before.length }]);
    const quotas = await sql<{ project: string; exact: boolean }>(
      `SELECT q.project, q.used_sandboxes = count(p.*) AND q.used_cpu_millis = coalesce(sum(p.cpu_millis), 0)
         AND q.used_memory_mb = coalesce(sum(p.memory_mb), 0) AS exact
       FROM sbx.project_quotas q LEFT JOIN sbx.placements p ON p.project = q.project GROUP BY q.project`,
    );
    expect(quotas.filter((q) => !q.exact)).toEqual([]);

    // The node keeps nothing on the host that no live sandbox owns (every sandbox a loop made is gone).
    const node = fleet.node("n1");
    await new Invariants(node.daemon, node.local, 0).expectNoLeaks(made);
  });
});

// The room a node's sandboxes hold as the control plane counts it, end to end (test/cluster-harness.ts:
// one node daemon, two control replicas on one PostgreSQL), where a call's outcome decides it:
//   - suspend and resume through the Tensorlake-compatible routes free and take the room as sbx's do
//     (one code path, api/suspend-room-call.ts), mixed freely with sbx's calls, and keep the record
//     that lets a suspended sandbox start on another node (api/cluster-move-record.ts) as sbx's do;
//   - a resume the node refuses gives back the room the control plane took for it;
//   - a resume whose outcome is unknown (the node froze with the call in flight) keeps it, and the
//     node's reports make the count match what the node did once it is back;
//   - a control replica killed (-9) mid-create leaves its provisional placement, which the other
//     replica removes once the dead one's lease ran out, giving the room back; whatever the node
//     made for that create is a stray it is told to destroy.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Sandbox, type SandboxClient } from "@sbx-sh/sdk";
import { Fleet, rejection, waitFor } from "./cluster-harness.js";
import { query } from "./cluster-content-fixtures.js";
import { tensorlakeCaller, type TensorlakeCall } from "./cluster-tensorlake-call.js";

// The registry: with it, a suspended named sandbox is recorded to start elsewhere (sandbox-mover.ts).
const fleet = new Fleet({ nodes: ["n1"], replicas: 2, leaseSecs: 5, registry: true });
const SPEC = { cpus: 0.5, memoryMb: 128, allowInternetAccess: false };
/** Replica 1 serves the calls (and the node's reports); replica 0 is the one killed last. */
let client: SandboxClient;
let tl: TensorlakeCall;

/** What n1 holds by the control plane's count (replica 1's answer). */
const held = async (): Promise<{ cpus: number; memoryMb: number; sandboxes: number }> =>
  (await fleet.nodes(1)).find((n) => n.name === "n1")!.allocated;
const pending = async (): Promise<string[]> =>
  (
    await query<{ sandbox_id: string }>(
      fleet,
      "SELECT sandbox_id FROM sbx.placements WHERE sandbox_id LIKE 'pending-%' ORDER BY 1",
    )
  ).rows.map((r) => r.sandbox_id);
/** The state of the sandbox's move record (sandbox_moves), if it has one. */
const moveRecord = async (id: string): Promise<string[]> =>
  (await query<{ state: string }>(fleet, `SELECT state FROM sbx.sandbox_moves WHERE sandbox_id = '${id}'`)).rows.map(
    (r) => r.state,
  );
/** Sandboxes n1's own daemon has not ended. */
const onNode = async (): Promise<string[]> =>
  (await fleet.node("n1").local.list())
    .filter((s) => s.status !== "terminated")
    .map((s) => s.id)
    .sort();

beforeAll(async () => {
  await fleet.start();
  client = fleet.client(undefined, 1);
  tl = tensorlakeCaller(fleet, (await client.createToken("default")).token!, 1);
});
afterAll(() => fleet.stop());

describe("the room a node's sandboxes hold, by what each call came to", () => {
  it("suspend and resume through the Tensorlake routes free and take the room, as sbx's routes do", async () => {
    const base = await held();
    const created = await tl("/v1/namespaces/default/sandboxes", {
      method: "POST",
      body: { name: "tl-room", resources: { cpus: 0.5, memory_mb: 128 } },
    });
    expect(created.status, created.text).toBe(200);
    const id = (created.json() as { sandbox_id: string }).sandbox_id;
    const taken = { cpus: base.cpus + 0.5, memoryMb: base.memoryMb + 128, sandboxes: base.sandboxes + 1 };
    const idle = { ...taken, cpus: base.cpus, memoryMb: base.memoryMb };
    expect(await held()).toEqual(taken);
    const call = async (path: string, want: string) => {
      const res = await tl(`/v1/namespaces/default/sandboxes/${id}${path}`, { method: "POST" });
      expect(res.status, res.text).toBe(200);
      expect((res.json() as { status: string }).status).toBe(want);
    };
    await call("/suspend", "suspended");
    expect(await held()).toEqual(idle);
    // Recorded at once, as sbx's suspend does (a node's report would record it later), and forgotten at resume:
    // a running sandbox is never started elsewhere from its old snapshot.
    expect(await moveRecord(id)).toEqual(["suspended"]);
    await call("/resume", "running");
    expect(await held()).toEqual(taken);
    expect(await moveRecord(id)).toEqual([]);
    // The two APIs share the count: suspended by one, resumed by the other.
    const sb = await Sandbox.connect(id, client);
    await sb.suspend();
    expect(await held()).toEqual(idle);
    await call("/resume", "running");
    expect(await held()).toEqual(taken);
    await call("/suspend", "suspended");
    expect((await sb.resume()).status).toBe("running");
    expect(await held()).toEqual(taken);
    const gone = await tl(`/v1/namespaces/default/sandboxes/${id}`, { method: "DELETE" });
    expect(gone.status, gone.text).toBe(200);
    expect(await held()).toEqual(base);
  });

  it("a resume the node refuses gives back the room taken for it", async () => {
    const base = await held();
    const sb = await Sandbox.create({ ...SPEC, name: "refused" }, client);
    await sb.suspend();
    expect(await held()).toEqual({ ...base, sandboxes: base.sandboxes + 1 });
    // Ended on the node behind the control plane's back: the node refuses to resume it.
    await fleet.node("n1").local.terminate(sb.id);
    const refused = await rejection(sb.resume());
    expect([refused.code, refused.message]).toEqual([
      "failed_precondition",
      expect.stringMatching(/only suspended sandboxes can be resumed/),
    ]);
    expect(await held()).toEqual({ ...base, sandboxes: base.sandboxes + 1 });
    // Ending it through the control plane frees its placement (the node answers it ended).
    await sb.terminate();
    expect(await held()).toEqual(base);
  });

  it("a resume whose outcome is unknown keeps the room until the node's report says what it did", async () => {
    const base = await held();
    const sb = await Sandbox.create({ ...SPEC, name: "unknown" }, client);
    await sb.suspend();
    const idle = { ...base, sandboxes: base.sandboxes + 1 };
    const taken = { cpus: base.cpus + 0.5, memoryMb: base.memoryMb + 128, sandboxes: base.sandboxes + 1 };
    expect(await held()).toEqual(idle);
    // The node freezes with the resume in flight: the call ends when its lease runs out, unanswered.
    fleet.freeze("n1");
    try {
      const unanswered = await rejection(sb.resume());
      expect(unanswered.code).toBe("node_unavailable");
      // It may have resumed before it froze: the room stays taken (giving it back could over-commit n1).
      expect(await held()).toEqual(taken);
    } finally {
      fleet.thaw("n1");
    }
    await fleet.waitState("n1", "ready");
    // Back, the node's reports make the count what it did (it may or may not have run the resume).
    await waitFor(
      async () => {
        const status = (await client.get(sb.id)).status;
        const now = await held();
        return (status === "running" && now.cpus === taken.cpus) || (status === "suspended" && now.cpus === idle.cpus);
      },
      30_000,
      "count matching the node",
    );
    await sb.terminate();
    expect(await held()).toEqual(base);
  });

  it("a control replica killed mid-create: the other removes its placement once its lease ran out", async () => {
    const base = await held();
    const before = await onNode();
    expect(await pending()).toEqual([]);
    // The create is held on a frozen node while replica 0, which placed it, is killed.
    fleet.freeze("n1");
    let making: Promise<unknown> | undefined;
    try {
      making = Sandbox.create(SPEC, fleet.client(undefined, 0)).then(
        () => "created",
        (err: unknown) => err,
      );
      await waitFor(async () => (await pending()).length === 1, 10_000, "the create placed");
      await fleet.control(0).stop("SIGKILL");
      expect(await held()).toEqual({
        cpus: base.cpus + 0.5,
        memoryMb: base.memoryMb + 128,
        sandboxes: base.sandboxes + 1,
      });
    } finally {
      fleet.thaw("n1");
    }
    // Its caller heard that its replica went away, never of a sandbox made.
    expect(await making).toBeInstanceOf(Error);
    // Replica 1's sweep, once replica 0's lease ran out.
    await waitFor(async () => (await pending()).length === 0, 30_000, "the dead replica's create swept");
    expect(await held()).toEqual(base);
    expect(fleet.control(1).log).toMatch(/a create's control replica died before it finished/);
    // Whatever n1 made for it (the call may have reached it) is unknown to the control plane: destroyed.
    await fleet.waitState("n1", "ready");
    await waitFor(async () => (await onNode()).join() === before.join(), 40_000, "nothing unknown left on n1");
    await fleet.control(0).start();
  });
});

// A fleet on one machine (test/cluster-harness.ts): three node daemons, each in its own network
// namespace with its own address, data dir, cgroup parent and nft table; two control replicas on
// one PostgreSQL; the registry over HTTPS on the fleet bridge. The scenario list of the cluster
// issue: sandboxes created and run through the control plane on each node (their veths, nft rules
// and cgroups where that node keeps them); a snapshot on one node restored on another; kill -9 of a
// control replica (the other serves the same sandboxes); a frozen node (SIGSTOP → lost → SIGCONT →
// back, destroying the sandbox given up meanwhile); kill -9 of a node (lost; its sandboxes marked;
// nothing placed there; given up past --node-give-up; restarted, it re-registers and destroys them);
// then nothing lost (every surviving sandbox and its files) and nothing leaked on any node.
// (It took over cluster-replicas.e2e's scenarios: replicas, a frozen node and a node given up.)
import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Sandbox } from "@sbx-sh/sdk";
import { Fleet, NODE_MTU, rejection, waitFor, type Footprint } from "./cluster-harness.js";

const fleet = new Fleet({
  nodes: ["n1", "n2", "n3"].map((name) => ({ name, labels: { host: name } })),
  replicas: 2,
  registry: true,
  leaseSecs: 2,
  giveUpSecs: 6,
});
/** Placement on one node through the control plane, by its label. */
const at = (node: string): { placement: { nodeSelector: Record<string, string> } } => ({
  placement: { nodeSelector: { host: node } },
});
const SPEC = { cpus: 0.25, memoryMb: 128, allowInternetAccess: false };
/** Sandboxes expected to be alive at the end, and the file each holds. */
const alive = new Map<string, { path: string; text: string }>();
const baseline: Record<string, Footprint> = {};
const on: Record<string, string> = {};
let restoredId = "";

const run = async (id: string, script: string, replica = 1): Promise<string> =>
  (await (await Sandbox.connect(id, fleet.client(undefined, replica))).run("sh", { args: ["-c", script] })).stdout;

beforeAll(async () => {
  await fleet.start();
  for (const n of fleet.nodeNames) baseline[n] = fleet.footprint(n);
});
afterAll(() => fleet.stop());

describe("a fleet of three namespaced nodes and two control replicas", () => {
  it("creates and runs sandboxes through the control plane on each node, in that node's namespace", async () => {
    // One on each node (by its label), all at once: each node makes its base image meanwhile.
    const made = await Promise.all(
      fleet.nodeNames.map((n) => Sandbox.create({ ...SPEC, ...at(n), name: `first-${n}` }, fleet.client())),
    );
    for (const [i, sb] of made.entries()) {
      expect(await fleet.nodeOf(sb.id)).toBe(fleet.nodeNames[i]);
      on[fleet.nodeNames[i]!] = sb.id;
    }
    for (const [n, id] of Object.entries(on)) {
      expect(await run(id, `echo ${n} > /root/where; cat /root/where`)).toBe(`${n}\n`);
      alive.set(id, { path: "/root/where", text: `${n}\n` });
      // Its cgroup is under this node's own parent.
      expect(fleet.footprint(n).cgroups.some((c) => c.endsWith(`/${id}`))).toBe(true);
    }
    // A networked sandbox's veth and rules are its node's namespace's, not the host's.
    const net = await Sandbox.create({ ...SPEC, ...at("n2"), allowInternetAccess: true }, fleet.client());
    const n2 = fleet.footprint("n2");
    expect(n2.links.length).toBeGreaterThan(baseline.n2!.links.length);
    const veth = n2.links.find((l) => !baseline.n2!.links.includes(l))!;
    expect(spawnSync("ip", ["link", "show", veth]).status).not.toBe(0);
    expect(n2.nft).toMatch(/table inet sbx_n2/);
    expect(spawnSync("nft", ["list", "table", "inet", "sbx_n2"]).status).not.toBe(0);
    // Its interface has its node's uplink MTU (read in the node's namespace), not the host's.
    const mtus = await net.run("sh", { args: ["-c", "for f in /sys/class/net/*/mtu; do echo $f $(cat $f); done"] });
    expect(mtus.stdout).toMatch(new RegExp(`^/sys/class/net/(?!lo/)[^/]+/mtu ${NODE_MTU}$`, "m"));
    await net.terminate();
  });

  it("snapshots on one node and restores on another", async () => {
    const src = await Sandbox.connect(on.n1!, fleet.client());
    await src.writeFile("/root/notes.txt", "taken on n1\n");
    const snap = await src.snapshot();
    expect(snap.status).toBe("completed");
    const restored = await Sandbox.create(
      { ...SPEC, ...at("n2"), snapshotId: snap.id, name: "restored" },
      fleet.client(),
    );
    expect(await fleet.nodeOf(restored.id)).toBe("n2");
    expect((await restored.readFile("/root/notes.txt")).toString()).toBe("taken on n1\n");
    expect((await restored.readFile("/root/where")).toString()).toBe("n1\n");
    alive.set(restored.id, { path: "/root/notes.txt", text: "taken on n1\n" });
    restoredId = restored.id;
  });

  it("kill -9 of a control replica loses nothing: the other serves the same sandboxes and places new ones", async () => {
    // Stateless: both replicas list the same sandboxes, whichever placed them.
    const ids = async (replica: number): Promise<string[]> =>
      (await fleet.client(undefined, replica).list()).map((s) => s.id).sort();
    expect(await ids(1)).toEqual(await ids(0));
    expect(await ids(1)).toEqual([...alive.keys()].sort());
    const before = (await fleet.nodes()).reduce((sum, n) => sum + n.allocated.sandboxes, 0);
    await fleet.control(0).stop("SIGKILL");
    for (const [id, f] of alive) expect(await run(id, `cat ${f.path}`)).toBe(f.text);
    const late = await Sandbox.create({ ...SPEC, name: "late" }, fleet.client(undefined, 1));
    await late.writeFile("/root/late", "placed while A was down");
    alive.set(late.id, { path: "/root/late", text: "placed while A was down" });
    expect(await fleet.nodeOf(late.id)).toMatch(/^n[123]$/);
    expect((await fleet.nodes()).reduce((sum, n) => sum + n.allocated.sandboxes, 0)).toBe(before + 1);
    // A comes back and serves them all, the one placed while it was down included, by name too.
    await fleet.control(0).start();
    expect(await run(late.id, "cat /root/late", 0)).toBe("placed while A was down");
    expect((await fleet.client().get("restored")).id).toBe(restoredId);
  });

  it("a frozen node goes lost, and back on SIGCONT, destroying the sandbox given up meanwhile", async () => {
    const doomed = await Sandbox.create({ ...SPEC, ...at("n2") }, fleet.client());
    const kept = (await fleet.sandboxesOn("n2")).filter((id) => id !== doomed.id);
    fleet.freeze("n2");
    try {
      await fleet.waitState("n2", "lost");
      const lost = await rejection(fleet.client().get(on.n2!));
      expect([lost.code, lost.message]).toEqual(["node_unavailable", expect.stringMatching(/node n2 is lost/)]);
      // Nothing goes to a lost node.
      const elsewhere = await Sandbox.create(SPEC, fleet.client());
      expect(await fleet.nodeOf(elsewhere.id)).not.toBe("n2");
      await elsewhere.terminate();
      // Terminating through the control plane gives it up: answered at once, its room freed.
      const room = async (): Promise<number | undefined> =>
        (await fleet.nodes()).find((n) => n.name === "n2")?.allocated.sandboxes;
      const held = await room();
      expect(await fleet.client().terminate(doomed.id)).toMatchObject({ id: doomed.id, status: "terminated" });
      expect(await room()).toBe(held! - 1);
    } finally {
      fleet.thaw("n2");
    }
    await fleet.waitState("n2", "ready");
    await waitFor(async () => !(await fleet.sandboxesOn("n2")).includes(doomed.id), 30_000, "given-up one destroyed");
    // The others stay and answer.
    expect(await fleet.sandboxesOn("n2")).toEqual(kept);
    expect(fleet.node("n2").daemon.log).toMatch(/gave these sandboxes up/);
    const gone = await rejection(fleet.client().get(doomed.id));
    expect([gone.code, gone.message]).toEqual([
      "sandbox_not_found",
      expect.stringMatching(/terminated while its node n2 was lost/),
    ]);
    expect(await run(on.n2!, "cat /root/where")).toBe("n2\n");
  });

  it("kill -9 of a node: lost, its sandboxes marked, given up past --node-give-up; back, it destroys them", async () => {
    const mine = await fleet.sandboxesOn("n3");
    expect(mine).toContain(on.n3);
    await fleet.node("n3").daemon.stop("SIGKILL");
    // Refused at once (connection refused), then lost by the database's clock.
    expect((await rejection(fleet.client().get(on.n3!))).code).toBe("node_unavailable");
    await fleet.waitState("n3", "lost");
    const placedMeanwhile = await Sandbox.create(SPEC, fleet.client());
    expect(await fleet.nodeOf(placedMeanwhile.id)).not.toBe("n3");
    await placedMeanwhile.terminate();
    const given = await waitFor(
      async () => {
        const l = await fleet.list();
        const up = l.unavailable.filter((u) => u.node === "n3" && /did not come back in time/.test(u.reason));
        return up.length === mine.length ? up : null;
      },
      40_000,
      "n3's sandboxes given up",
    );
    expect(given.map((u) => u.id).sort()).toEqual(mine);
    expect((await fleet.nodes()).find((n) => n.name === "n3")?.allocated).toEqual({
      cpus: 0,
      memoryMb: 0,
      sandboxes: 0,
    });
    expect((await rejection(fleet.client().get(on.n3!))).message).toMatch(/its node n3 was lost at .* given up/);
    alive.delete(on.n3!);
    // Its sandboxes outlived the daemon; restarted, it registers again and destroys them all.
    await fleet.startNode("n3");
    await fleet.waitState("n3", "ready");
    await waitFor(
      async () => (await fleet.sandboxesOn("n3")).length === 0,
      30_000,
      "n3's given-up sandboxes destroyed",
    );
    const fresh = await Sandbox.create({ ...SPEC, ...at("n3") }, fleet.client());
    expect(await run(fresh.id, "echo ok")).toBe("ok\n");
    await fresh.writeFile("/root/fresh", "after the return");
    alive.set(fresh.id, { path: "/root/fresh", text: "after the return" });
  });

  it("nothing lost, nothing leaked: every sandbox keeps its files; terminated, no node keeps anything", async () => {
    const listed = await fleet.list(0);
    expect(listed.sandboxes.map((s) => s.id).sort()).toEqual([...alive.keys()].sort());
    for (const [id, f] of alive) expect(await run(id, `cat ${f.path}`, 0)).toBe(f.text);
    for (const id of alive.keys()) expect((await fleet.client().terminate(id)).status).toBe("terminated");
    for (const n of fleet.nodeNames) {
      await waitFor(async () => (await fleet.sandboxesOn(n)).length === 0, 30_000, `${n} empty`);
      // Cgroups under its parent, its nft table's rules and sets, mounts under its root, its namespace's links.
      await waitFor(
        () => JSON.stringify(fleet.footprint(n)) === JSON.stringify(baseline[n]),
        15_000,
        `${n} as at start`,
      ).catch(() => undefined);
      expect(fleet.footprint(n)).toEqual(baseline[n]);
    }
    expect((await fleet.nodes()).map((n) => n.allocated.sandboxes)).toEqual([0, 0, 0]);
  });
});

// Moving named sandboxes between nodes, end to end on one machine (test/cluster-harness.ts): a
// control plane (real PostgreSQL), two crun nodes each in its own network namespace, and a real
// registry (Debian's docker-registry, HTTPS on the fleet bridge). `sbx node drain` suspends each
// named sandbox on the node and resumes it on the other with its files, id, name and secrets;
// unnamed ones stay; new creates avoid the drained node; a sandbox that cannot move stays, running;
// a move a dead control replica left half done is finished by a re-run; once the drained node's
// sandboxes are gone it keeps nothing (the fleet's footprint: cgroups, nft rules, mounts, links, as
// at start). A sandbox suspended on a node that is then killed (-9) resumes on the other node from
// its suspend snapshot (also one the node suspended by itself at its timeout, which its reports
// named); one that was running there cannot, and says why; the node, back, destroys its stale copy
// and, its sandboxes ended, keeps nothing either. Snapshot list and delete through the control plane
// answer from PostgreSQL's records, per project; a deleted snapshot leaves the sandboxes made from
// it running.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Sandbox, SandboxClient } from "@sbx-sh/sdk";
import type { DrainSummary, SnapshotInfo } from "@sbx-sh/protocol";
import { Fleet, rejection, waitFor, type Footprint } from "./cluster-harness.js";

const OPTS = { cpus: 0.25, memoryMb: 128, allowInternetAccess: false };
const fleet = new Fleet({ nodes: ["n1", "n2"], registry: true });
let client: SandboxClient;
/** Each node's footprint once started, before any sandbox: what it must come back to. */
const baseline: Record<string, Footprint> = {};
const sbx = (args: string[]) => fleet.sbxAsync(args);
const nodeState = async (name: string): Promise<string | undefined> => fleet.nodeState(name);
/** The sandboxes a node's own daemon runs (not ended), by id. */
const liveOn = (name: string): Promise<string[]> => fleet.sandboxesOn(name);

/** A statement on the cluster's PostgreSQL, as a control replica would have run it. */
async function sql(text: string, values: unknown[]): Promise<unknown[]> {
  const db = new pg.Client({ connectionString: fleet.pg.url });
  await db.connect();
  try {
    return (await db.query(text, values)).rows as unknown[];
  } finally {
    await db.end();
  }
}

/** The node's footprint comes back to its baseline (waited for a little: teardown is asynchronous). */
async function asAtStart(name: string): Promise<void> {
  await waitFor(
    () => JSON.stringify(fleet.footprint(name)) === JSON.stringify(baseline[name]),
    15_000,
    `${name} as at start`,
  ).catch(() => undefined);
  expect(fleet.footprint(name)).toEqual(baseline[name]);
}

/** Whatever a node keeps on the host that names the sandbox (its cgroup, mounts). */
const traces = (name: string, id: string): string[] => {
  const f = fleet.footprint(name);
  return [...f.cgroups, ...f.mounts].filter((p) => p.includes(id));
};

beforeAll(async () => {
  await fleet.start();
  client = fleet.client();
  for (const n of fleet.nodeNames) baseline[n] = fleet.footprint(n);
});

afterAll(() => fleet.stop());

describe("moving named sandboxes between nodes", () => {
  it("drain moves named sandboxes with their files, id, name and secrets; unnamed stay; new ones avoid the node", async () => {
    // Everything starts on n1.
    expect((await sbx(["node", "cordon", "n2"])).code).toBe(0);
    const web = await Sandbox.create({ ...OPTS, name: "web", secrets: { API_TOKEN: "s3cret" } }, client);
    const scratch = await Sandbox.create(OPTS, client);
    expect((await liveOn("n1")).sort()).toEqual([web.id, scratch.id].sort());
    await web.writeFile("/root/work/state.txt", "written on n1\n");
    // n1 keeps web's cgroup (and its mounts) now: the check below that they are gone can fail.
    expect(traces("n1", web.id).length).toBeGreaterThan(0);

    // No other node takes sandboxes: it cannot move, says why, and stays on n1, running.
    const stuck = await sbx(["node", "drain", "n1", "--json"]);
    expect(stuck.code, stuck.stderr).toBe(1);
    const first = JSON.parse(stuck.stdout) as DrainSummary;
    expect(first).toMatchObject({ node: "n1", moved: 0, failed: 1, stays: 1 });
    const failed = first.sandboxes.find((s) => s.sandbox === web.id)!;
    expect(failed).toMatchObject({ outcome: "failed", name: "web", from: "n1" });
    expect(failed.error?.message).toMatch(/no other ready node has room/);
    expect(await nodeState("n1")).toBe("draining");
    expect((await web.run("cat", { args: ["/root/work/state.txt"] })).stdout).toBe("written on n1\n");
    expect(await liveOn("n1")).toContain(web.id);

    // A control replica that died mid-move: it had recorded the move and n1 had suspended web.
    // Calls are held off (not sent to a copy about to be dropped); a re-run of the drain finishes it.
    // In the replica's order: the record first, then the suspend (n1's report of the suspend, which
    // may come at once, leaves a move's record as it is; before it, that report would make its own).
    expect((await sbx(["node", "ready", "n2"])).code).toBe(0);
    await sql(
      `INSERT INTO sbx.sandbox_moves (sandbox_id, project, name, from_node, state, why)
       VALUES ($1, 'default', 'web', 'n1', 'suspending', 'drain')`,
      [web.id],
    );
    await fleet.node("n1").local.transport.json("POST", `/v1/sandboxes/${web.id}/suspend`);
    const held = await rejection(client.get("web"));
    expect(held.code).toBe("node_unavailable");
    expect(held.message).toMatch(/being moved from node n1/);
    // The drain again moves it (and says so, sandbox by sandbox).
    const again = await sbx(["node", "drain", "n1"]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(new RegExp(`moved web \\(${web.id}\\): n1 → n2`));
    expect(again.stderr).toMatch(new RegExp(`${scratch.id} \\(unnamed\\) stays on n1 until it ends`));
    expect(again.stdout).toMatch(/node n1 draining: 1 moved, 0 could not move, 0 suspended, 1 unnamed/);

    // It runs on n2 now: same id, found by name, its files and secrets there, its handle working.
    expect(await liveOn("n2")).toEqual([web.id]);
    const byName = await client.get("web");
    expect(byName).toMatchObject({ id: web.id, name: "web", status: "running" });
    expect((await web.run("cat", { args: ["/root/work/state.txt"] })).stdout).toBe("written on n1\n");
    // (Output shows a secret's value masked, so it is compared inside.)
    const secret = await web.run("sh", { args: ["-c", 'test "$API_TOKEN" = s3cret && echo same'] });
    expect(secret.stdout).toBe("same\n");
    // The unnamed one stays on n1 and still answers; n1 keeps no copy of the moved one.
    expect((await scratch.run("echo", { args: ["still here"] })).stdout).toBe("still here\n");
    await waitFor(async () => !(await liveOn("n1")).includes(web.id), 20_000, "n1's copy of web destroyed");
    // Nothing of it is left on n1's host side either: no cgroup, no mount.
    await waitFor(() => traces("n1", web.id).length === 0, 15_000, "web's cgroup and mounts gone from n1").catch(
      () => undefined,
    );
    expect(traces("n1", web.id)).toEqual([]);

    // New sandboxes avoid the draining node.
    const fresh = await Promise.all([Sandbox.create(OPTS, client), Sandbox.create(OPTS, client)]);
    expect((await liveOn("n2")).sort()).toEqual([web.id, ...fresh.map((s) => s.id)].sort());
    // Run again, a drain has nothing left to move.
    const third = JSON.parse((await sbx(["node", "drain", "n1", "--json"])).stdout) as DrainSummary;
    expect(third).toMatchObject({ moved: 0, failed: 0, stays: 1 });
    for (const s of [scratch, ...fresh]) await s.terminate();
    expect((await sbx(["node", "ready", "n1"])).code).toBe(0);
    // The drained node, its last sandbox ended, keeps nothing: cgroups, nft rules, mounts, links as at start.
    await waitFor(async () => (await liveOn("n1")).length === 0, 20_000, "n1 empty");
    await asAtStart("n1");
  });

  it("a suspended sandbox whose node is lost resumes on another node; a running one cannot, and says why", async () => {
    // web runs on n2 (moved there above); db is suspended there.
    expect((await sbx(["node", "cordon", "n1"])).code).toBe(0);
    const db = await Sandbox.create({ ...OPTS, name: "db" }, client);
    // nap is suspended by n2 itself, at its timeout: n2's reports name it, and the control plane records it.
    const nap = await Sandbox.create({ ...OPTS, name: "nap", timeoutSecs: 6 }, client);
    await nap.writeFile("/root/dream.txt", "suspended at its timeout\n");
    expect((await sbx(["node", "ready", "n1"])).code).toBe(0);
    expect(await liveOn("n2")).toContain(db.id);
    await db.writeFile("/var/lib/data.txt", "kept through the loss of n2\n");
    expect((await sbx(["suspend", "db"])).code).toBe(0);
    await waitFor(
      async () =>
        (await sql("SELECT 1 FROM sbx.sandbox_moves WHERE sandbox_id = $1 AND state = 'suspended'", [nap.id])).length,
      30_000,
      "nap's suspend (by its timeout on n2) recorded",
    );
    await fleet.node("n2").daemon.stop("SIGKILL");
    await fleet.waitState("n2", "lost");

    // The SDK's resume (the CLI's `sbx resume` is the same call, refused below for web).
    expect(await db.resume()).toMatchObject({ id: db.id, name: "db", status: "running" });
    expect(await liveOn("n1")).toContain(db.id);
    expect((await db.run("cat", { args: ["/var/lib/data.txt"] })).stdout).toBe("kept through the loss of n2\n");
    expect((await sbx(["resume", "nap"])).code).toBe(0);
    expect((await nap.run("cat", { args: ["/root/dream.txt"] })).stdout).toBe("suspended at its timeout\n");

    // web was running when n2 was lost: there is no snapshot of it to start from.
    const refused = await sbx(["resume", "web"]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/cannot be resumed elsewhere: .*no suspend snapshot/);
    expect((await rejection(client.get("web"))).code).toBe("node_unavailable");

    // n2 back: web is there again, and the stale copy of db is destroyed (db lives on n1 now).
    await fleet.startNode("n2");
    await fleet.waitState("n2", "ready");
    await waitFor(async () => !(await liveOn("n2")).includes(db.id), 20_000, "n2's stale copy of db destroyed");
    expect(await liveOn("n2")).toContain((await client.get("web")).id);
    expect((await db.run("cat", { args: ["/var/lib/data.txt"] })).stdout).toBe("kept through the loss of n2\n");
    for (const s of [db, nap]) await s.terminate();
    await client.terminate("web");
    // Nothing leaked on either node: not by the move of db and nap, nor by n2's kill -9 and return.
    for (const n of fleet.nodeNames) {
      await waitFor(async () => (await liveOn(n)).length === 0, 20_000, `${n} empty`);
      await asAtStart(n);
    }
  });

  it("a suspended sandbox holds no room on its node; a resume takes it back, or says there is none", async () => {
    type Listed = { name: string; capacity: { cpus: number }; allocated: { cpus: number; sandboxes: number } };
    const n1 = async (): Promise<Listed> =>
      (JSON.parse((await sbx(["node", "ls", "--json"])).stdout) as Listed[]).find((n) => n.name === "n1")!;
    expect((await sbx(["node", "cordon", "n2"])).code).toBe(0);
    // One sandbox takes all of n1's cpus.
    const all = { ...OPTS, cpus: (await n1()).capacity.cpus };
    const big = await Sandbox.create({ ...all, name: "big" }, client);
    expect((await n1()).allocated).toEqual({ cpus: all.cpus, memoryMb: 128, sandboxes: 1 });
    expect((await sbx(["suspend", "big"])).code).toBe(0);
    // Suspended: still placed there (found by name), holding no room, so n1 takes another.
    expect((await n1()).allocated).toEqual({ cpus: 0, memoryMb: 0, sandboxes: 1 });
    const other = await Sandbox.create(all, client);
    expect(await liveOn("n1")).toContain(other.id);
    const refused = await sbx(["resume", "big"]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(
      /node n1 has no room to resume sandbox .* end or suspend other sandboxes there first/,
    );
    expect((await client.get("big")).status).toBe("suspended");
    await other.terminate();
    expect((await sbx(["resume", "big"])).code).toBe(0);
    expect((await client.get("big")).status).toBe("running");
    expect((await n1()).allocated).toEqual({ cpus: all.cpus, memoryMb: 128, sandboxes: 1 });
    await big.terminate();
    expect((await n1()).allocated).toEqual({ cpus: 0, memoryMb: 0, sandboxes: 0 });
    expect((await sbx(["node", "ready", "n2"])).code).toBe(0);
  });

  it("snapshot ls and rm through the control plane answer from PostgreSQL, per project", async () => {
    const src = await Sandbox.create(OPTS, client);
    await src.writeFile("/root/kept.txt", "from the snapshot\n");
    const snap = await src.snapshot();
    const listed = JSON.parse((await sbx(["snapshot", "ls", "--json"])).stdout) as SnapshotInfo[];
    expect(listed.find((s) => s.id === snap.id)).toMatchObject({ sourceSandboxId: src.id, status: "completed" });
    expect(JSON.parse((await sbx(["snapshot", "inspect", snap.id, "--json"])).stdout)).toMatchObject({ id: snap.id });
    // Another project sees none of it, and cannot delete it.
    await client.createProject("drain-other");
    const other = fleet.client("drain-other");
    expect(await other.listSnapshots()).toEqual([]);
    expect((await rejection(other.deleteSnapshot(snap.id))).code).toBe("not_found");

    const made = await Sandbox.create({ ...OPTS, snapshotId: snap.id }, client);
    const rm = await sbx(["snapshot", "rm", snap.id]);
    expect(rm.code, rm.stderr).toBe(0);
    expect(
      (JSON.parse((await sbx(["snapshot", "ls", "--json"])).stdout) as SnapshotInfo[]).map((s) => s.id),
    ).not.toContain(snap.id);
    // Gone from the registry too (this one allows deletes), and nothing restores from it now.
    expect(await fleet.registry!.status(`/v2/sbx/content/manifests/${snap.id}`)).toBe(404);
    expect((await rejection(Sandbox.create({ ...OPTS, snapshotId: snap.id }, client))).code).toBe("not_found");
    // What was made from it keeps running with its files.
    expect((await made.run("cat", { args: ["/root/kept.txt"] })).stdout).toBe("from the snapshot\n");
    for (const s of [src, made]) await s.terminate();
  });
});

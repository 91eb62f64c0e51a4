// Moving named sandboxes between nodes, end to end on one machine: a control plane (real
// PostgreSQL), two crun nodes and a real registry (Debian's docker-registry on loopback). `sbx node
// drain` suspends each named sandbox on the node and resumes it on the other with its files, id,
// name and secrets; unnamed ones stay; new creates avoid the drained node; a sandbox that cannot
// move stays, running; a move a dead control replica left half done is finished by a re-run. A
// sandbox suspended on a node that is then killed (-9) resumes on the other node from its suspend
// snapshot (also one the node suspended by itself at its timeout, which its reports named); one
// that was running there cannot, and says why; the node, back, destroys its stale copy. Snapshot
// list and delete through the control plane answer from PostgreSQL's records, per project; a
// deleted snapshot leaves the sandboxes made from it running.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Sandbox, SandboxClient, SbxError } from "@sbx-sh/sdk";
import type { ClusterNode, DrainSummary, SnapshotInfo } from "@sbx-sh/protocol";
import { startPgCluster, type PgCluster } from "../packages/daemon/src/testing/pg-cluster.js";
import { freePort, REPO, TestDaemon, waitFor } from "./harness.js";
import { TestRegistry } from "./registry.js";

const SECRET = "cluster-secret-for-the-drain-test-0123456789ab";
const OPTS = { cpus: 0.25, memoryMb: 128, allowInternetAccess: false };

/** A control plane and two nodes on PostgreSQL and a registry (the set-up of cluster-content's test). */
async function startCluster(): Promise<{
  pg: PgCluster;
  registry: TestRegistry;
  control: TestDaemon;
  nodes: Record<string, TestDaemon>;
}> {
  const registry = new TestRegistry();
  await registry.start();
  const pg = await startPgCluster();
  const port = await freePort();
  const withRegistry = ["--warm-pool", "0", "--registry", registry.host];
  const control = new TestDaemon({
    name: "cd-control",
    netIndex: 7,
    extraArgs: [...withRegistry, "--role", "control", "--store", pg.url, "--listen-tcp", `127.0.0.1:${port}`],
  });
  Object.assign(control.env, { SBX_CLUSTER_SECRET: SECRET, SBX_NODE_LEASE_SECS: "3" });
  await control.reset();
  await control.start();
  const nodes: Record<string, TestDaemon> = {};
  await Promise.all(
    (["n1", "n2"] as const).map(async (name, i) => {
      const added = cli(control, ["node", "add", name, "--json"]);
      expect(added.code, added.stderr).toBe(0);
      const node = new TestDaemon({
        name: `cd-${name}`,
        netIndex: 8 + i,
        extraArgs: [...withRegistry, "--role", "node", "--listen-tcp", `127.0.0.1:${await freePort()}`],
      });
      Object.assign(node.env, {
        SBX_CONTROL: `http://127.0.0.1:${port}`,
        SBX_NODE_TOKEN: (JSON.parse(added.stdout) as { token: string }).token,
      });
      nodes[name] = node;
      await node.reset();
      await node.start();
    }),
  );
  return { pg, registry, control, nodes };
}

function cli(control: TestDaemon, args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(REPO, "packages", "cli", "bin", "sbx.js"), ...args], {
    env: { ...process.env, SBX_HOST: control.host },
    encoding: "utf8",
    timeout: 90_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

let c: Awaited<ReturnType<typeof startCluster>>;
let client: SandboxClient;
const sbx = (args: string[]) => cli(c.control, args);
const nodeState = (name: string): ClusterNode | undefined =>
  (JSON.parse(sbx(["node", "ls", "--json"]).stdout) as ClusterNode[]).find((n) => n.name === name);

/** The sandboxes a node's own daemon runs (not ended), by id. */
async function liveOn(name: string): Promise<string[]> {
  const all = await new SandboxClient({ host: c.nodes[name]!.host }).list();
  return all.filter((s) => s.status !== "terminated").map((s) => s.id);
}

/** A statement on the cluster's PostgreSQL, as a control replica would have run it. */
async function sql(text: string, values: unknown[]): Promise<unknown[]> {
  const db = new pg.Client({ connectionString: c.pg.url });
  await db.connect();
  try {
    return (await db.query(text, values)).rows as unknown[];
  } finally {
    await db.end();
  }
}

async function rejection(p: Promise<unknown>): Promise<SbxError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SbxError);
  return err as SbxError;
}

beforeAll(async () => {
  c = await startCluster();
  client = new SandboxClient({ host: c.control.host });
  await waitFor(() => nodeState("n1")?.state === "ready" && nodeState("n2")?.state === "ready", 30_000, "nodes ready");
});

afterAll(async () => {
  for (const node of Object.values(c?.nodes ?? {})) {
    if (!node.child) await node.start().catch(() => undefined);
    const local = new SandboxClient({ host: node.host });
    for (const s of await local.list().catch(() => [])) await local.terminate(s.id).catch(() => undefined);
    await node.stop();
  }
  await c?.control.stop();
  await c?.pg.stop();
  await c?.registry.stop();
});

describe("moving named sandboxes between nodes", () => {
  it("drain moves named sandboxes with their files, id, name and secrets; unnamed stay; new ones avoid the node", async () => {
    // Everything starts on n1.
    expect(sbx(["node", "cordon", "n2"]).code).toBe(0);
    const web = await Sandbox.create({ ...OPTS, name: "web", secrets: { API_TOKEN: "s3cret" } }, client);
    const scratch = await Sandbox.create(OPTS, client);
    expect((await liveOn("n1")).sort()).toEqual([web.id, scratch.id].sort());
    await web.writeFile("/root/work/state.txt", "written on n1\n");

    // No other node takes sandboxes: it cannot move, says why, and stays on n1, running.
    const stuck = sbx(["node", "drain", "n1", "--json"]);
    expect(stuck.code, stuck.stderr).toBe(1);
    const first = JSON.parse(stuck.stdout) as DrainSummary;
    expect(first).toMatchObject({ node: "n1", moved: 0, failed: 1, stays: 1 });
    const failed = first.sandboxes.find((s) => s.sandbox === web.id)!;
    expect(failed).toMatchObject({ outcome: "failed", name: "web", from: "n1" });
    expect(failed.error?.message).toMatch(/no other ready node has room/);
    expect(nodeState("n1")?.state).toBe("draining");
    expect((await web.run("cat", { args: ["/root/work/state.txt"] })).stdout).toBe("written on n1\n");
    expect(await liveOn("n1")).toContain(web.id);

    // A control replica that died mid-move: it had recorded the move and n1 had suspended web.
    // Calls are held off (not sent to a copy about to be dropped); a re-run of the drain finishes it.
    expect(sbx(["node", "ready", "n2"]).code).toBe(0);
    const onN1 = new SandboxClient({ host: c.nodes.n1!.host });
    await onN1.transport.json("POST", `/v1/sandboxes/${web.id}/suspend`);
    await sql(
      `INSERT INTO sbx.sandbox_moves (sandbox_id, project, name, from_node, state, why)
       VALUES ($1, 'default', 'web', 'n1', 'suspending', 'drain')`,
      [web.id],
    );
    const held = await rejection(client.get("web"));
    expect(held.code).toBe("node_unavailable");
    expect(held.message).toMatch(/being moved from node n1/);
    // The drain again moves it (and says so, sandbox by sandbox).
    const again = sbx(["node", "drain", "n1"]);
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

    // New sandboxes avoid the draining node.
    const fresh = await Promise.all([Sandbox.create(OPTS, client), Sandbox.create(OPTS, client)]);
    expect((await liveOn("n2")).sort()).toEqual([web.id, ...fresh.map((s) => s.id)].sort());
    // Run again, a drain has nothing left to move.
    const third = JSON.parse(sbx(["node", "drain", "n1", "--json"]).stdout) as DrainSummary;
    expect(third).toMatchObject({ moved: 0, failed: 0, stays: 1 });
    for (const s of [scratch, ...fresh]) await s.terminate();
    expect(sbx(["node", "ready", "n1"]).code).toBe(0);
  });

  it("a suspended sandbox whose node is lost resumes on another node; a running one cannot, and says why", async () => {
    // web runs on n2 (moved there above); db is suspended there.
    expect(sbx(["node", "cordon", "n1"]).code).toBe(0);
    const db = await Sandbox.create({ ...OPTS, name: "db" }, client);
    // nap is suspended by n2 itself, at its timeout: n2's reports name it, and the control plane records it.
    const nap = await Sandbox.create({ ...OPTS, name: "nap", timeoutSecs: 6 }, client);
    await nap.writeFile("/root/dream.txt", "suspended at its timeout\n");
    expect(sbx(["node", "ready", "n1"]).code).toBe(0);
    expect(await liveOn("n2")).toContain(db.id);
    await db.writeFile("/var/lib/data.txt", "kept through the loss of n2\n");
    expect(sbx(["suspend", "db"]).code).toBe(0);
    await waitFor(
      async () =>
        (await sql("SELECT 1 FROM sbx.sandbox_moves WHERE sandbox_id = $1 AND state = 'suspended'", [nap.id])).length,
      30_000,
      "nap's suspend (by its timeout on n2) recorded",
    );
    await c.nodes.n2!.stop("SIGKILL");
    await waitFor(() => nodeState("n2")?.state === "lost", 30_000, "n2 lost");

    // The SDK's resume (the CLI's `sbx resume` is the same call, refused below for web).
    expect(await db.resume()).toMatchObject({ id: db.id, name: "db", status: "running" });
    expect(await liveOn("n1")).toContain(db.id);
    expect((await db.run("cat", { args: ["/var/lib/data.txt"] })).stdout).toBe("kept through the loss of n2\n");
    expect(sbx(["resume", "nap"]).code).toBe(0);
    expect((await nap.run("cat", { args: ["/root/dream.txt"] })).stdout).toBe("suspended at its timeout\n");

    // web was running when n2 was lost: there is no snapshot of it to start from.
    const refused = sbx(["resume", "web"]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/cannot be resumed elsewhere: .*no suspend snapshot/);
    expect((await rejection(client.get("web"))).code).toBe("node_unavailable");

    // n2 back: web is there again, and the stale copy of db is destroyed (db lives on n1 now).
    await c.nodes.n2!.start();
    await waitFor(() => nodeState("n2")?.state === "ready", 30_000, "n2 ready again");
    await waitFor(async () => !(await liveOn("n2")).includes(db.id), 20_000, "n2's stale copy of db destroyed");
    expect(await liveOn("n2")).toContain((await client.get("web")).id);
    expect((await db.run("cat", { args: ["/var/lib/data.txt"] })).stdout).toBe("kept through the loss of n2\n");
    for (const s of [db, nap]) await s.terminate();
    await client.terminate("web");
  });

  it("snapshot ls and rm through the control plane answer from PostgreSQL, per project", async () => {
    const src = await Sandbox.create(OPTS, client);
    await src.writeFile("/root/kept.txt", "from the snapshot\n");
    const snap = await src.snapshot();
    const listed = JSON.parse(sbx(["snapshot", "ls", "--json"]).stdout) as SnapshotInfo[];
    expect(listed.find((s) => s.id === snap.id)).toMatchObject({ sourceSandboxId: src.id, status: "completed" });
    expect(JSON.parse(sbx(["snapshot", "inspect", snap.id, "--json"]).stdout)).toMatchObject({ id: snap.id });
    // Another project sees none of it, and cannot delete it.
    await client.createProject("drain-other");
    const other = new SandboxClient({ host: c.control.host, project: "drain-other" });
    expect(await other.listSnapshots()).toEqual([]);
    expect((await rejection(other.deleteSnapshot(snap.id))).code).toBe("not_found");

    const made = await Sandbox.create({ ...OPTS, snapshotId: snap.id }, client);
    const rm = sbx(["snapshot", "rm", snap.id]);
    expect(rm.code, rm.stderr).toBe(0);
    expect((JSON.parse(sbx(["snapshot", "ls", "--json"]).stdout) as SnapshotInfo[]).map((s) => s.id)).not.toContain(
      snap.id,
    );
    // Gone from the registry too (this one allows deletes), and nothing restores from it now.
    const manifest = await fetch(`http://${c.registry.host}/v2/sbx/content/manifests/${snap.id}`);
    expect(manifest.status).toBe(404);
    expect((await rejection(Sandbox.create({ ...OPTS, snapshotId: snap.id }, client))).code).toBe("not_found");
    // What was made from it keeps running with its files.
    expect((await made.run("cat", { args: ["/root/kept.txt"] })).stdout).toBe("from the snapshot\n");
    for (const s of [src, made]) await s.terminate();
  });
});

// Control plane replicas and a node that comes back, end to end on one machine: two control
// replicas (sbxd --role control) on one throwaway PostgreSQL and a node daemon on real crun.
// A sandbox created through replica A answers through replica B; kill -9 of A loses nothing (B
// serves the same sandboxes and places new ones; A restarted serves them too). A node lost while a
// sandbox of it is terminated destroys that one when it comes back and keeps the others; a node
// that stays lost past --node-give-up has all its sandboxes given up (listed with the reason), and,
// restarted, destroys them all: nothing leaks on the node and its room is free again.
import { spawnSync } from "node:child_process";
import { request } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Sandbox, SandboxClient, SbxError } from "@sbx-sh/sdk";
import type { ClusterNode, SandboxInfo } from "@sbx-sh/protocol";
import { startPgCluster, type PgCluster } from "../packages/daemon/src/testing/pg-cluster.js";
import { freePort, REPO, TestDaemon, waitFor } from "./harness.js";

const SECRET = "cluster-secret-for-the-replicas-test-0123456789";
let pg: PgCluster;
const ctl: Record<"a" | "b", TestDaemon> = {} as Record<"a" | "b", TestDaemon>;
let node: TestDaemon;
const ids: Record<string, string> = {};

function sbx(via: TestDaemon, args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(REPO, "packages", "cli", "bin", "sbx.js"), ...args], {
    env: { ...process.env, SBX_HOST: via.host },
    encoding: "utf8",
    timeout: 60_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const n1 = (via: TestDaemon = ctl.b): ClusterNode | undefined =>
  (JSON.parse(sbx(via, ["node", "ls", "--json"]).stdout) as ClusterNode[]).find((n) => n.name === "n1");
const clientOf = (d: TestDaemon): SandboxClient => new SandboxClient({ host: d.host });
/** The node's own view (its root-only socket): the ids of its sandboxes that have not ended. */
const onNode = async (): Promise<string[]> =>
  (await clientOf(node).list())
    .filter((s) => s.status !== "terminated")
    .map((s) => s.id)
    .sort();

function listVia(
  d: TestDaemon,
): Promise<{ sandboxes: SandboxInfo[]; unavailable: Array<{ id: string; reason: string }> }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath: d.socket, path: "/v1/sandboxes", headers: { "x-sbx-project": "default" } },
      (res) => {
        let text = "";
        res.on("data", (c: Buffer) => (text += c.toString()));
        res.on("end", () => resolve(JSON.parse(text) as never));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

async function rejection(p: Promise<unknown>): Promise<SbxError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SbxError);
  return err as SbxError;
}

const run = async (via: TestDaemon, id: string, script: string): Promise<string> =>
  (await (await Sandbox.connect(id, clientOf(via))).run("sh", { args: ["-c", script] })).stdout;

beforeAll(async () => {
  pg = await startPgCluster();
  const ports = { a: await freePort(), b: await freePort() };
  for (const [name, netIndex] of [
    ["a", 7],
    ["b", 8],
  ] as const) {
    const d = new TestDaemon({
      name: `cr-ctl-${name}`,
      netIndex,
      extraArgs: [
        "--warm-pool",
        "0",
        "--role",
        "control",
        "--store",
        pg.url,
        "--listen-tcp",
        `127.0.0.1:${ports[name]}`,
      ],
    });
    Object.assign(d.env, { SBX_CLUSTER_SECRET: SECRET, SBX_NODE_LEASE_SECS: "2", SBX_NODE_GIVE_UP_SECS: "6" });
    await d.reset();
    await d.start();
    ctl[name] = d;
  }
  const added = sbx(ctl.a, ["node", "add", "n1", "--json"]);
  expect(added.code, added.stderr).toBe(0);
  node = new TestDaemon({
    name: "cr-n1",
    netIndex: 9,
    extraArgs: ["--warm-pool", "0", "--role", "node", "--listen-tcp", `127.0.0.1:${await freePort()}`],
  });
  Object.assign(node.env, {
    // Replica B: the one that stays up (in production, a Service or load balancer in front of all).
    SBX_CONTROL: `http://127.0.0.1:${ports.b}`,
    SBX_NODE_TOKEN: (JSON.parse(added.stdout) as { token: string }).token,
    SBX_CLUSTER_SECRET: SECRET,
  });
  await node.reset();
  await node.start();
  await waitFor(() => n1()?.state === "ready", 30_000, "n1 ready");
});

afterAll(async () => {
  node?.child?.kill("SIGCONT");
  if (node) {
    for (const s of await clientOf(node)
      .list()
      .catch(() => []))
      await clientOf(node)
        .terminate(s.id)
        .catch(() => undefined);
    await node.stop();
  }
  for (const d of Object.values(ctl)) await d.stop();
  await pg?.stop();
});

describe("control replicas and a node that comes back", () => {
  it("replicas are stateless: created via A, served via B; kill -9 of A loses nothing", async () => {
    const spec = { cpus: 0.25, memoryMb: 128, allowInternetAccess: false };
    const keep = await Sandbox.create({ ...spec, name: "keep" }, clientOf(ctl.a));
    const drop = await Sandbox.create(spec, clientOf(ctl.a));
    Object.assign(ids, { keep: keep.id, drop: drop.id });
    await keep.writeFile("/tmp/note", "written via A");
    expect(await run(ctl.b, "keep", "cat /tmp/note")).toBe("written via A");
    expect((await clientOf(ctl.b).list()).map((s) => s.id).sort()).toEqual([keep.id, drop.id].sort());

    await ctl.a.stop("SIGKILL");
    expect(await run(ctl.b, keep.id, "echo still; cat /tmp/note")).toBe("still\nwritten via A");
    const late = await Sandbox.create(spec, clientOf(ctl.b));
    ids.late = late.id;
    expect(await onNode()).toEqual([keep.id, drop.id, late.id].sort());
    expect(n1()).toMatchObject({ state: "ready", allocated: { sandboxes: 3 } });
    // A comes back and serves the same sandboxes, the one placed while it was down included.
    await ctl.a.start();
    expect(await run(ctl.a, late.id, "echo via-a")).toBe("via-a\n");
    expect((await clientOf(ctl.a).get("keep")).id).toBe(keep.id);
  });

  it("a node lost while one of its sandboxes was terminated destroys that one on its return, keeps the rest", async () => {
    node.child!.kill("SIGSTOP");
    try {
      await waitFor(() => n1()?.state === "lost", 30_000, "n1 lost");
      // Terminating through the control plane gives it up: answered at once, the room freed.
      const ended = await clientOf(ctl.b).terminate(ids.drop!);
      expect(ended).toMatchObject({ id: ids.drop, status: "terminated" });
      expect(n1()?.allocated.sandboxes).toBe(2);
    } finally {
      node.child!.kill("SIGCONT");
    }
    await waitFor(() => n1()?.state === "ready", 30_000, "n1 ready again");
    // The node learns it from its lease and destroys it; the others stay and answer.
    await waitFor(async () => !(await onNode()).includes(ids.drop!), 30_000, "the given-up sandbox destroyed on n1");
    expect(await onNode()).toEqual([ids.keep!, ids.late!].sort());
    expect(node.log).toMatch(/gave these sandboxes up while this node was lost/);
    expect(await run(ctl.b, "keep", "cat /tmp/note")).toBe("written via A");
    const gone = await rejection(clientOf(ctl.b).get(ids.drop!));
    expect(gone.code).toBe("sandbox_not_found");
    expect(gone.message).toMatch(/terminated while its node n1 was lost/);
  });

  it("a node lost past --node-give-up has its sandboxes given up, and destroys them all when it comes back", async () => {
    await node.stop("SIGKILL");
    await waitFor(() => n1()?.state === "lost", 30_000, "n1 lost");
    // After the give-up time the control plane lets them go: listed with the reason, room freed.
    const given = await waitFor(
      async () => {
        const l = await listVia(ctl.b);
        return l.unavailable.filter((u) => /did not come back in time/.test(u.reason)).length === 2 ? l : null;
      },
      40_000,
      "n1's sandboxes given up",
    );
    const givenUp = given.unavailable.filter((u) => /did not come back in time/.test(u.reason));
    expect(givenUp.map((u) => u.id).sort()).toEqual([ids.keep!, ids.late!].sort());
    expect(n1()?.allocated).toEqual({ cpus: 0, memoryMb: 0, sandboxes: 0 });
    expect((await rejection(clientOf(ctl.a).get("keep"))).message).toMatch(/its node n1 was lost at .* given up/);
    // Its sandboxes outlived the daemon; restarted, it registers and destroys them: nothing leaks.
    await node.start();
    await waitFor(() => n1()?.state === "ready", 30_000, "n1 ready again");
    await waitFor(async () => (await onNode()).length === 0, 30_000, "every given-up sandbox destroyed on n1");
    // And it is a healthy node again: a new sandbox lands there and stays.
    const fresh = await Sandbox.create({ cpus: 0.25, memoryMb: 128, allowInternetAccess: false }, clientOf(ctl.a));
    expect(await run(ctl.b, fresh.id, "echo ok")).toBe("ok\n");
    expect(await onNode()).toEqual([fresh.id]);
  });
});

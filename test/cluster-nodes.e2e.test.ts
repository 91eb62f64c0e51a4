// The cluster's node lifecycle with real daemons: a control plane (sbxd --role control on a
// throwaway PostgreSQL, TCP for nodes) and a node daemon (sbxd --role node). `sbx node add` issues
// the credential, the node registers and heartbeats with it, `sbx node ls` shows it ready with its
// capacity, a wrong token is refused and logged, and a node killed with -9 goes lost when its
// lease runs out on the database's clock, then ready again when it comes back.
import { spawnSync } from "node:child_process";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ClusterNode } from "@sbx-sh/protocol";
import { startPgCluster, type PgCluster } from "../packages/daemon/src/testing/pg-cluster.js";
import { freePort, REPO, TestDaemon, waitFor } from "./harness.js";

let pg: PgCluster;
let control: TestDaemon;
let node: TestDaemon;
let controlUrl = "";

function sbx(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(REPO, "packages", "cli", "bin", "sbx.js"), ...args], {
    env: { ...process.env, SBX_HOST: control.host },
    encoding: "utf8",
    timeout: 60_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const nodes = (): ClusterNode[] => JSON.parse(sbx(["node", "ls", "--json"]).stdout) as ClusterNode[];

beforeAll(async () => {
  pg = await startPgCluster();
  const port = await freePort();
  controlUrl = `http://127.0.0.1:${port}`;
  control = new TestDaemon({
    name: "control",
    netIndex: 8,
    extraArgs: [
      "--warm-pool",
      "0",
      "--role",
      "control",
      "--store",
      pg.url,
      "--listen-tcp",
      `127.0.0.1:${port}`,
      "--node-lease",
      "3",
    ],
  });
  node = new TestDaemon({
    name: "node1",
    netIndex: 9,
    extraArgs: ["--warm-pool", "0", "--role", "node", "--listen-tcp", `127.0.0.1:${await freePort()}`],
  });
  // Control and nodes share it: a node's API accepts only requests carrying it.
  control.env.SBX_CLUSTER_SECRET = "a-cluster-secret-of-32-characters-or-more";
  await control.reset();
  await node.reset();
  await control.start();
});
afterAll(async () => {
  await node?.stop();
  await control?.stop();
  await pg?.stop();
});

describe("cluster nodes", () => {
  it("a node added with sbx node add registers with its credential and shows as ready with its capacity", async () => {
    const added = sbx(["node", "add", "n1", "--label", "zone=a", "--json"]);
    expect(added.code, added.stderr).toBe(0);
    const { name, token } = JSON.parse(added.stdout) as { name: string; token: string };
    expect(name).toBe("n1");
    expect(token).toMatch(/^sbxn_/);
    expect(nodes()).toMatchObject([{ name: "n1", state: "new", labels: { zone: "a" }, leaseSecsLeft: null }]);
    expect(sbx(["node", "add", "n1"]).stderr).toMatch(/already exists/);

    Object.assign(node.env, { SBX_CONTROL: controlUrl, SBX_NODE_TOKEN: token });
    await node.start();
    const ready = await waitFor(
      async () => nodes().find((n) => n.name === "n1" && n.state === "ready"),
      30_000,
      "n1 ready",
    );
    expect(ready.capacity.cpus).toBe(availableParallelism());
    expect(ready.capacity.memoryMb).toBeGreaterThan(0);
    expect(ready.leaseSecsLeft).toBeGreaterThan(0);
    const table = sbx(["node", "ls"]).stdout;
    expect(table).toMatch(/^NAME\s+STATE/);
    expect(table).toMatch(/n1\s+ready/);
    expect(control.log).toMatch(/node registered/);
  });

  it("cordons and readies a node; its heartbeats keep the operator's state", async () => {
    const r = sbx(["node", "cordon", "n1", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ name: "n1", state: "cordoned" });
    // Heartbeats later (every third of the 3 s lease), still cordoned and still leased.
    await new Promise((res) => setTimeout(res, 1500));
    const later = nodes()[0]!;
    expect(later.state).toBe("cordoned");
    expect(later.leaseSecsLeft).toBeGreaterThan(0);
    expect(sbx(["node", "ready", "n1"]).stdout).toMatch(/node n1: ready/);
    expect(sbx(["node", "cordon", "nope"]).stderr).toMatch(/no node named nope/);
  });

  it("refuses a wrong node token with 401 and logs it; operators' routes are not open over TCP", async () => {
    const report = {
      address: "x:1",
      capacity: { cpus: 1, memoryMb: 1, diskMb: 1 },
      usage: { cpus: 0, memoryMb: 0, diskMb: 0, sandboxes: 0 },
      layers: [],
    };
    const res = await fetch(`${controlUrl}/cluster/v1/register`, {
      method: "POST",
      headers: { authorization: "Bearer sbxn_wrong", "content-type": "application/json" },
      body: JSON.stringify(report),
    });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("unauthenticated");
    await waitFor(async () => /node refused/.test(control.log) || undefined, 10_000, "refusal logged");
    expect(nodes().map((n) => n.name)).toEqual(["n1"]);
    const list = await fetch(`${controlUrl}/v1/nodes`, { headers: { authorization: "Bearer sbxn_wrong" } });
    expect(list.status).toBe(401);
  });

  it("a node killed with -9 goes lost when its lease runs out, and ready again when it comes back", async () => {
    await node.stop("SIGKILL");
    await waitFor(async () => nodes().find((n) => n.name === "n1" && n.state === "lost"), 30_000, "n1 lost");
    await waitFor(async () => /node lease expired: lost/.test(control.log) || undefined, 10_000, "lost logged");
    await node.start();
    await waitFor(async () => nodes().find((n) => n.name === "n1" && n.state === "ready"), 30_000, "n1 ready again");
  });

  it("a daemon that is not a control plane says so", () => {
    const r = spawnSync(process.execPath, [join(REPO, "packages", "cli", "bin", "sbx.js"), "node", "ls"], {
      env: { ...process.env, SBX_HOST: node.host },
      encoding: "utf8",
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/not a cluster control plane/);
  });

  it("a revoked node's heartbeats are refused and it never becomes ready again", async () => {
    expect(sbx(["node", "revoke", "n1"]).stdout).toMatch(/node n1: revoked/);
    await waitFor(
      async () => /control plane refused this node/.test(node.log) || undefined,
      15_000,
      "refusal on the node",
    );
    expect(nodes()[0]).toMatchObject({ name: "n1", state: "revoked" });
    expect(sbx(["node", "ready", "n1"]).stderr).toMatch(/cannot become ready/);
  });
});

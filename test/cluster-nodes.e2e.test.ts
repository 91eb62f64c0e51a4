// The cluster's node lifecycle with real daemons (test/cluster-harness.ts): a control plane (sbxd
// --role control on a throwaway PostgreSQL, TCP for nodes) and a node daemon (sbxd --role node) in
// its own network namespace. `sbx node add` issues
// the credential, the node registers and heartbeats with it, `sbx node ls` shows it ready with its
// capacity, a wrong token is refused and logged, and a node killed with -9 goes lost when its
// lease runs out on the database's clock, then ready again when it comes back.
import { spawnSync } from "node:child_process";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ClusterNode } from "@sbx-sh/protocol";
import { Sandbox } from "@sbx-sh/sdk";
import { Fleet, rejection, waitFor } from "./cluster-harness.js";
import { REPO } from "./harness.js";

// n1 is neither added nor started: the first test adds it with the CLI and starts it. "dup" is a
// second daemon (its own namespace and address) that a test starts with n1's credential.
const fleet = new Fleet({
  nodes: [
    { name: "n1", add: false },
    { name: "dup", add: false },
  ],
  leaseSecs: 3,
});
const sbx = (args: string[]): { code: number; stdout: string; stderr: string } => fleet.sbx(args);
const nodes = (): ClusterNode[] => JSON.parse(sbx(["node", "ls", "--json"]).stdout) as ClusterNode[];

beforeAll(() => fleet.start());
afterAll(() => fleet.stop());

describe("cluster nodes", () => {
  it("a node added with sbx node add registers with its credential and shows as ready with its capacity", async () => {
    const added = sbx(["node", "add", "n1", "--label", "zone=a", "--json"]);
    expect(added.code, added.stderr).toBe(0);
    const { name, token } = JSON.parse(added.stdout) as { name: string; token: string };
    expect(name).toBe("n1");
    expect(token).toMatch(/^sbxn_/);
    expect(nodes()).toMatchObject([{ name: "n1", state: "new", labels: { zone: "a" }, leaseSecsLeft: null }]);
    expect(sbx(["node", "add", "n1"]).stderr).toMatch(/already exists/);

    const node = fleet.node("n1");
    node.daemon.env.SBX_NODE_TOKEN = node.token = token;
    await node.daemon.start();
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
    expect(ready.address).toBe(`${node.address}:7080`);
    // The control plane's log reaches this process through a pipe its synchronous CLI calls above held up.
    await waitFor(() => /node registered/.test(fleet.control().log), 10_000, "the registration logged");
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

  it("refuses resources past sbx's limits before placing, in both APIs, with the limit (never a 500)", async () => {
    // Each used to reach PostgreSQL's integer columns: a 500 `internal` quoting the database.
    for (const [ask, field] of [
      [{ cpus: 1e9 }, /cpus: .*<=64/],
      [{ cpus: 0.01 }, /cpus: .*>=0.1/],
      [{ memoryMb: 1e12 }, /memoryMb: .*<=65536/],
    ] as const) {
      const err = await rejection(fleet.client().create(ask));
      expect(err.code, err.message).toBe("invalid_argument");
      expect(err.message).toMatch(field);
    }
    const token = sbx(["token", "create", "-q"]).stdout.trim();
    for (const [resources, field] of [
      [{ cpus: 3e6 }, /resources\.cpus: .*<=64/],
      [{ memory_mb: 1e12 }, /resources\.memory_mb: .*<=65536/],
    ] as const) {
      const res = await fetch(`${fleet.controlUrl()}/sandboxes`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ resources }),
      });
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(res.status, body.error.message).toBe(400);
      expect(body.error.message).toMatch(field);
    }
    expect(nodes()[0]!.allocated).toEqual({ cpus: 0, memoryMb: 0, sandboxes: 0 });
    expect((await fleet.list()).sandboxes).toEqual([]);
  });

  it("refuses a wrong node token with 401 and logs it; operators' routes are not open over TCP", async () => {
    const report = {
      address: "x:1",
      capacity: { cpus: 1, memoryMb: 1, diskMb: 1 },
      usage: { cpus: 0, memoryMb: 0, diskMb: 0, sandboxes: 0 },
      layers: [],
    };
    const res = await fetch(`${fleet.controlUrl()}/cluster/v1/register`, {
      method: "POST",
      headers: { authorization: "Bearer sbxn_wrong", "content-type": "application/json" },
      body: JSON.stringify(report),
    });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("unauthenticated");
    await waitFor(async () => /node refused/.test(fleet.control().log) || undefined, 10_000, "refusal logged");
    expect(nodes().map((n) => n.name)).toEqual(["n1"]);
    const list = await fetch(`${fleet.controlUrl()}/v1/nodes`, { headers: { authorization: "Bearer sbxn_wrong" } });
    expect(list.status).toBe(401);
  });

  it("a node killed with -9 goes lost when its lease runs out, and ready again when it comes back", async () => {
    await fleet.node("n1").daemon.stop("SIGKILL");
    await fleet.waitState("n1", "lost");
    await waitFor(async () => /node lease expired: lost/.test(fleet.control().log) || undefined, 10_000, "lost logged");
    await fleet.startNode("n1");
    await fleet.waitState("n1", "ready");
  });

  it("refuses a second daemon holding n1's credential at another address; n1 and its sandbox stay", async () => {
    // An operator's mistake (a replacement started before the old node was stopped, a token copied to
    // a second host): it used to take over n1's address, drop n1's sandboxes from the control plane
    // (its reports list none, so their placements were freed and forgotten, never destroyed) and
    // flip the address back and forth with every registration.
    const n1 = fleet.node("n1");
    const sb = await Sandbox.create({ name: "kept", cpus: 0.25, memoryMb: 128 }, fleet.client());
    const dup = fleet.node("dup");
    dup.daemon.env.SBX_NODE_TOKEN = n1.token;
    await fleet.startNode("dup");
    try {
      await waitFor(
        async () =>
          /control plane refused this node|registered with the control plane/.test(dup.daemon.log) || undefined,
        15_000,
        "dup's first registration answered",
      );
      expect(dup.daemon.log).toMatch(/another daemon/);
      expect(dup.daemon.log).not.toMatch(/registered with the control plane/);
      // Past a lease (3 s) of both daemons' heartbeats: n1 keeps its address, lease and sandbox.
      await new Promise((res) => setTimeout(res, 4000));
      expect(nodes()).toMatchObject([{ name: "n1", state: "ready", address: `${n1.address}:7080` }]);
      expect((await fleet.list()).sandboxes.map((s) => s.id)).toEqual([sb.id]);
      expect((await sb.run("echo", { args: ["still"] })).stdout).toBe("still\n");
    } finally {
      await dup.daemon.stop();
    }
    await sb.terminate();
  });

  it("a daemon that is not a control plane says so", () => {
    const r = spawnSync(process.execPath, [join(REPO, "packages", "cli", "bin", "sbx.js"), "node", "ls"], {
      env: { ...process.env, SBX_HOST: fleet.node("n1").daemon.host },
      encoding: "utf8",
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/not a cluster control plane/);
  });

  it("a revoked node's heartbeats are refused and it never becomes ready again", async () => {
    expect(sbx(["node", "revoke", "n1"]).stdout).toMatch(/node n1: revoked/);
    await waitFor(
      async () => /control plane refused this node/.test(fleet.node("n1").daemon.log) || undefined,
      15_000,
      "refusal on the node",
    );
    expect(nodes()[0]).toMatchObject({ name: "n1", state: "revoked" });
    expect(sbx(["node", "ready", "n1"]).stderr).toMatch(/cannot become ready/);
  });

  it("sbx node add -q prints only the credential, which is shown once (as token create -q does)", async () => {
    // -q used to print the node's name (the generic "only ids"): the credential was lost for good.
    const r = sbx(["node", "add", "n9", "-q"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^sbxn_[A-Za-z0-9_-]{40,}\n$/);
    // It is n9's credential: the control plane knows it (no lease yet: 412), where a wrong one is 401.
    const heartbeat = (token: string) =>
      fetch(`${fleet.controlUrl()}/cluster/v1/heartbeat`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({
          address: "x:1",
          capacity: { cpus: 1, memoryMb: 1, diskMb: 1 },
          usage: { cpus: 0, memoryMb: 0, diskMb: 0, sandboxes: 0 },
          layers: [],
        }),
      }).then((res) => res.status);
    expect(await heartbeat(r.stdout.trim())).toBe(412);
    expect(await heartbeat("sbxn_wrong")).toBe(401);
  });
});

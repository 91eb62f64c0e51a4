// The cluster end to end on one machine: a control plane (sbxd --role control on a throwaway
// PostgreSQL) and two node daemons (sbxd --role node, each with its own data dir, socket, TCP
// port, subnet and veth prefix, real crun). Sandboxes created through the control plane are placed
// over both nodes; exec, files, background processes and a terminal (WebSocket) reach the node
// that runs each; a node's API refuses anything but the control plane; a node killed with -9 makes
// its sandboxes node_unavailable (the other node's keep working) and, restarted, brings them back;
// a frozen node (SIGSTOP) ends the calls in flight to it instead of leaving them hanging.
import { spawnSync } from "node:child_process";
import { request } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Sandbox, SandboxClient, SbxError } from "@sbx-sh/sdk";
import type { ClusterNode, SandboxInfo } from "@sbx-sh/protocol";
import { startPgCluster, type PgCluster } from "../packages/daemon/src/testing/pg-cluster.js";
import { freePort, REPO, TestDaemon, waitFor } from "./harness.js";

const SECRET = "cluster-secret-for-the-routing-test-0123456789";
let pg: PgCluster;
let control: TestDaemon;
const nodes: Record<string, TestDaemon> = {};
const nodePorts: Record<string, number> = {};
let client: SandboxClient;
let controlPort = 0;
const placed: Record<string, string[]> = { n1: [], n2: [] };

function sbx(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(REPO, "packages", "cli", "bin", "sbx.js"), ...args], {
    env: { ...process.env, SBX_HOST: control.host },
    encoding: "utf8",
    timeout: 60_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const clusterNodes = (): ClusterNode[] => JSON.parse(sbx(["node", "ls", "--json"]).stdout) as ClusterNode[];
const nodeState = (name: string): string | undefined => clusterNodes().find((n) => n.name === name)?.state;

/** GET over the control plane's unix socket, for what the SDK does not show (the list's unavailable part). */
function controlGet(path: string): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: control.socket, path, headers: { "x-sbx-project": "default" } }, (res) => {
      let text = "";
      res.on("data", (c: Buffer) => (text += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as unknown }));
    });
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

beforeAll(async () => {
  pg = await startPgCluster();
  const port = (controlPort = await freePort());
  control = new TestDaemon({
    name: "cl-control",
    netIndex: 7,
    extraArgs: ["--warm-pool", "0", "--role", "control", "--store", pg.url, "--listen-tcp", `127.0.0.1:${port}`],
  });
  Object.assign(control.env, { SBX_CLUSTER_SECRET: SECRET, SBX_NODE_LEASE_SECS: "3" });
  await control.reset();
  await control.start();
  client = new SandboxClient({ host: control.host });
  await Promise.all(
    (["n1", "n2"] as const).map(async (name, i) => {
      const added = sbx(["node", "add", name, "--json"]);
      expect(added.code, added.stderr).toBe(0);
      nodePorts[name] = await freePort();
      const node = new TestDaemon({
        name: `cl-${name}`,
        netIndex: 8 + i,
        extraArgs: ["--warm-pool", "0", "--role", "node", "--listen-tcp", `127.0.0.1:${nodePorts[name]}`],
      });
      Object.assign(node.env, {
        SBX_CONTROL: `http://127.0.0.1:${port}`,
        SBX_NODE_TOKEN: (JSON.parse(added.stdout) as { token: string }).token,
        SBX_CLUSTER_SECRET: SECRET,
      });
      nodes[name] = node;
      await node.reset();
      await node.start();
    }),
  );
  await waitFor(() => nodeState("n1") === "ready" && nodeState("n2") === "ready", 30_000, "both nodes ready");
});

afterAll(async () => {
  for (const node of Object.values(nodes)) {
    // A failed freeze test may leave a node stopped: it would never see SIGTERM.
    node.child?.kill("SIGCONT");
    const local = new SandboxClient({ host: node.host });
    for (const s of await local.list().catch(() => [])) await local.terminate(s.id).catch(() => undefined);
    await node.stop();
  }
  await control?.stop();
  await pg?.stop();
});

describe("cluster routing", () => {
  it("places sandboxes over both nodes and routes exec, files, processes and terminals to each one's node", async () => {
    const made: Sandbox[] = [];
    for (let i = 0; i < 4; i++)
      made.push(
        await Sandbox.create(
          { cpus: 0.25, memoryMb: 128, allowInternetAccess: false, ...(i === 0 ? { name: "first" } : {}) },
          client,
        ),
      );
    // Where each one really runs: the nodes' own daemons (over their root-only sockets) list them.
    for (const name of ["n1", "n2"]) {
      const local = await new SandboxClient({ host: nodes[name]!.host }).list();
      placed[name] = local.map((s) => s.id);
    }
    expect(placed.n1!.length + placed.n2!.length).toBe(4);
    // Equal nodes, and the placer ranks by room left: they alternate.
    expect(placed.n1).toHaveLength(2);
    expect(placed.n2).toHaveLength(2);
    expect(clusterNodes().map((n) => [n.name, n.allocated.sandboxes])).toEqual([
      ["n1", 2],
      ["n2", 2],
    ]);

    for (const sb of made) {
      const r = await sb.run("sh", { args: ["-c", "echo $((6*7))"] });
      expect(r).toMatchObject({ exitCode: 0, stdout: "42\n" });
      await sb.writeFile("/tmp/note", `hello ${sb.id}`);
      expect((await sb.readFile("/tmp/note")).toString()).toBe(`hello ${sb.id}`);
    }
    // By name, as on one host; a name is unique in its project across the cluster.
    expect((await client.get("first")).id).toBe(made[0]!.id);
    const dup = await rejection(Sandbox.create({ name: "first", cpus: 0.25, memoryMb: 128 }, client));
    expect(dup.code).toBe("already_exists");

    const proc = await made[1]!.startProcess("sh", { args: ["-c", "echo out; echo err >&2; exit 3"] });
    expect(await proc.wait()).toMatchObject({ exitCode: 3, stdout: "out\n", stderr: "err\n" });

    const t = await made[2]!.createTerminal({
      command: "sh",
      args: ["-c", 'read line; echo "got-$line"; exit 5'],
      cols: 80,
      rows: 24,
    });
    let seen = "";
    t.onData((d) => (seen += d.toString()));
    t.write("ping\r");
    await waitFor(() => seen.includes("got-ping"), 30_000, "the terminal's answer through the control plane");
    expect(await t.wait()).toBe(5);

    const listed = await client.list();
    expect(listed.map((s) => s.id).sort()).toEqual(made.map((s) => s.id).sort());
  });

  it("a node's API accepts only the control plane's secret, never a project's or a node's token", async () => {
    // A remote client with a project token goes through the control plane's TCP listener...
    const { token } = await client.createToken("default");
    const remote = new SandboxClient({ host: `http://127.0.0.1:${controlPort}`, token });
    const r = await (await Sandbox.connect(placed.n1![0]!, remote)).run("echo", { args: ["remote"] });
    expect(r.stdout).toBe("remote\n");
    // ...and the same token is worth nothing at a node.
    const url = `http://127.0.0.1:${nodePorts.n1}/v1/sandboxes`;
    for (const auth of [undefined, `Bearer ${token}`, "Bearer sbxn_wrong", `Bearer ${SECRET}x`]) {
      const res = await fetch(url, auth ? { headers: { authorization: auth } } : {});
      expect(res.status).toBe(401);
      expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/only its control plane/);
    }
    const ok = await fetch(url, { headers: { authorization: `Bearer ${SECRET}` } });
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { sandboxes: SandboxInfo[] }).sandboxes.map((s) => s.id).sort()).toEqual(
      [...placed.n1!].sort(),
    );
  });

  it("a frozen node (SIGSTOP) ends its calls in flight once its lease runs out, and comes back with SIGCONT", async () => {
    const sb = await Sandbox.connect(placed.n2![0]!, client);
    // A long call is streaming when the node freezes: its connection stays open, nothing answers.
    const inFlight = sb.run("sleep", { args: ["60"] }).then(
      () => "finished",
      (e: unknown) => (e instanceof Error ? e.message : String(e)),
    );
    await new Promise((r) => setTimeout(r, 500));
    nodes.n2!.child!.kill("SIGSTOP");
    try {
      expect(await inFlight).not.toBe("finished");
      const lost = await rejection(sb.run("true"));
      expect(lost.code).toBe("node_unavailable");
      expect(lost.message).toMatch(/node n2/);
    } finally {
      nodes.n2!.child!.kill("SIGCONT");
    }
    await waitFor(() => nodeState("n2") === "ready", 30_000, "n2 ready again after SIGCONT");
    expect((await sb.run("echo", { args: ["thawed"] })).stdout).toBe("thawed\n");
  });

  it("kill -9 of a node: its sandboxes are node_unavailable at once, the other's work; restarted, they are back", async () => {
    const [down, up] = [placed.n1![0]!, placed.n2![0]!];
    await nodes.n1!.stop("SIGKILL");
    const refused = await rejection(Sandbox.connect(down, client).then((sb) => sb.run("true")));
    expect(refused.code).toBe("node_unavailable");
    expect(refused.message).toMatch(/node n1/);
    expect((await (await Sandbox.connect(up, client)).run("echo", { args: ["still"] })).stdout).toBe("still\n");

    await waitFor(() => nodeState("n1") === "lost", 30_000, "n1 lost");
    const lost = await rejection(client.get(down));
    expect(lost.code).toBe("node_unavailable");
    expect(lost.message).toMatch(/node n1 is lost/);
    const list = (await controlGet("/v1/sandboxes")).body as {
      sandboxes: SandboxInfo[];
      unavailable: Array<{ id: string; node: string }>;
    };
    expect(list.sandboxes.map((s) => s.id).sort()).toEqual([...placed.n2!].sort());
    expect(list.unavailable.map((u) => [u.id, u.node]).sort()).toEqual(placed.n1!.map((id) => [id, "n1"]).sort());
    // Nothing new goes to a lost node.
    const fresh = await Sandbox.create({ cpus: 0.25, memoryMb: 128, allowInternetAccess: false }, client);
    expect((await new SandboxClient({ host: nodes.n2!.host }).list()).map((s) => s.id)).toContain(fresh.id);
    placed.n2!.push(fresh.id);

    await nodes.n1!.start();
    await waitFor(() => nodeState("n1") === "ready", 30_000, "n1 ready again");
    for (const id of placed.n1!) {
      const r = await (await Sandbox.connect(id, client)).run("cat", { args: ["/tmp/note"] });
      expect(r.stdout).toBe(`hello ${id}`);
    }
  });

  it("terminating through the control plane frees the room on the node, and so does a sandbox's own timeout", async () => {
    const short = await Sandbox.create(
      { cpus: 0.25, memoryMb: 128, allowInternetAccess: false, timeoutSecs: 1 },
      client,
    );
    for (const id of [...placed.n1!, ...placed.n2!]) expect((await client.terminate(id)).status).toBe("terminated");
    expect((await rejection(client.get(placed.n1![0]!))).code).toBe("sandbox_not_found");
    const rooms = () => clusterNodes().map((n) => [n.name, n.allocated.sandboxes] as const);
    // Five terminated: at most the short one still holds room (it may have ended and been freed already).
    expect(rooms().reduce((sum, [, n]) => sum + n, 0)).toBeLessThanOrEqual(1);
    // The short one ends on its node by itself; the node's heartbeats stop listing it and its room is freed.
    await waitFor(() => rooms().every(([, n]) => n === 0), 30_000, "every node's room back to 0");
    const freed = (): boolean => control.log.split("\n").some((l) => l.includes("room freed") && l.includes(short.id));
    await waitFor(freed, 10_000, "the control plane to log the freed room");
    expect((await rejection(client.get(short.id))).code).toBe("sandbox_not_found");
  });
});

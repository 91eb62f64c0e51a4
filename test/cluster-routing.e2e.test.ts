// The cluster end to end on one machine (test/cluster-harness.ts): a control plane (sbxd --role
// control on a throwaway PostgreSQL) and two node daemons (sbxd --role node, real crun), each in its
// own network namespace with its own address, data dir, cgroup parent and nft table. Sandboxes
// created through the control plane are placed over both nodes; exec, files, background processes
// and a terminal (WebSocket) reach the node that runs each; a node's API refuses anything but the
// control plane; a node killed with -9 makes its sandboxes node_unavailable (the other node's keep
// working) and, restarted, brings them back; a frozen node (SIGSTOP) ends the calls in flight to it
// instead of leaving them hanging. Control → node calls carry each node's own key (another node's
// is refused) over TLS: the nodes serve certificates the harness makes with openssl, and the
// control plane verifies them against --node-ca (a node whose certificate comes from another CA is
// node_unavailable). Also: the port proxy and the Tensorlake-compatible routes through the control
// plane, its refusals of calls that would act on the control host, and its dot-segment check
// before routing.
import { request } from "node:http";
import { request as httpsRequest } from "node:https";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Sandbox, SandboxClient } from "@sbx-sh/sdk";
import type { ClusterNode, SandboxInfo } from "@sbx-sh/protocol";
import { deriveNodeKey } from "../packages/daemon/src/cluster/node-key.js";
import { Fleet, rawUnix, rejection, SECRET } from "./cluster-harness.js";
import { tensorlakeCaller } from "./cluster-tensorlake-call.js";
import { waitFor, type TestDaemon } from "./harness.js";

const fleet = new Fleet({
  nodes: [
    { name: "n1", labels: { zone: "a" } },
    { name: "n2", labels: { zone: "b" } },
  ],
  nodeTls: true,
  controlProxy: true,
  leaseSecs: 3,
});
let control: TestDaemon;
const nodes: Record<string, TestDaemon> = {};
let client: SandboxClient;
const placed: Record<string, string[]> = { n1: [], n2: [] };

/** A node's key as the control plane derives it, from the salt in PostgreSQL. */
async function nodeKey(name: string): Promise<string> {
  const db = new pg.Client({ connectionString: fleet.pg.url });
  await db.connect();
  try {
    const { rows } = await db.query<{ key_salt: string }>("SELECT key_salt FROM sbx.nodes WHERE name = $1", [name]);
    return deriveNodeKey(SECRET, name, rows[0]!.key_salt);
  } finally {
    await db.end();
  }
}

/** GET on a node's own TCP API (TLS at its address in its namespace, verified against the test CA). */
function nodeGet(name: string, auth?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      `${fleet.node(name).url}/v1/sandboxes`,
      { ca: fleet.certs.ca, headers: auth ? { authorization: auth } : {} },
      (res) => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

/** A request to the control plane's port proxy for `host`. */
function viaControlProxy(
  host: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: fleet.hostAddress, port: fleet.controlProxyPort, path: "/index.html", headers: { ...headers, host } },
      (res) => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

const sbx = (args: string[]): { code: number; stdout: string; stderr: string } => fleet.sbx(args);
const sbxAsync = (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => fleet.sbxAsync(args);
const clusterNodes = (): ClusterNode[] => JSON.parse(sbx(["node", "ls", "--json"]).stdout) as ClusterNode[];
/** GET over the control plane's unix socket, for what the SDK does not show (the list's unavailable part). */
const controlGet = (path: string): Promise<{ status: number; body: unknown }> => rawUnix(control, "GET", path);

beforeAll(async () => {
  await fleet.start();
  control = fleet.control();
  for (const n of fleet.nodeNames) nodes[n] = fleet.node(n).daemon;
  client = fleet.client();
});
afterAll(() => fleet.stop());

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

  it("a node's API (TLS) accepts only its own key: not another node's, a project token or the cluster secret; a revoked token stops at once", async () => {
    // A remote client with a project token goes through the control plane's TCP listener...
    const { token, id: tokenId } = await client.createToken("default");
    const remote = new SandboxClient({ host: fleet.controlUrl(), token });
    const r = await (await Sandbox.connect(placed.n1![0]!, remote)).run("echo", { args: ["remote"] });
    expect(r.stdout).toBe("remote\n");
    // ...and the same token is worth nothing at a node, nor is the other node's key.
    const [k1, k2] = [await nodeKey("n1"), await nodeKey("n2")];
    expect(k1).not.toBe(k2);
    for (const auth of [undefined, `Bearer ${token}`, "Bearer sbxn_wrong", `Bearer ${SECRET}`, `Bearer ${k2}`]) {
      const res = await nodeGet("n1", auth);
      expect(res.status).toBe(401);
      expect((JSON.parse(res.body) as { error: { message: string } }).error.message).toMatch(/only its control plane/);
    }
    expect((await nodeGet("n2", `Bearer ${k1}`)).status).toBe(401);
    const ok = await nodeGet("n1", `Bearer ${k1}`);
    expect(ok.status).toBe(200);
    expect((JSON.parse(ok.body) as { sandboxes: SandboxInfo[] }).sandboxes.map((s) => s.id).sort()).toEqual(
      [...placed.n1!].sort(),
    );
    expect((await nodeGet("n2", `Bearer ${k2}`)).status).toBe(200);
    // The control plane remembers the token (cluster/route-cache.ts), but a revoked one stops working at once.
    const box = await Sandbox.connect(placed.n1![0]!, remote);
    for (let i = 0; i < 3; i++) expect((await box.run("true")).exitCode).toBe(0);
    await client.revokeToken("default", tokenId);
    await expect(box.run("true")).rejects.toMatchObject({ code: "unauthenticated" });
  });

  it("places by node selector; refuses what would act on the control host, and dot segments before routing", async () => {
    for (const [method, path, what] of [
      ["GET", "/v1/pools", /warm pools/],
      ["POST", "/v1/volumes", /volumes/],
      ["GET", "/v1/events", /event stream/],
      ["POST", "/v1/sandboxes/prune", /pruning/],
      ["POST", `/v1/sandboxes/${placed.n1![0]}/copy`, /copying a sandbox/],
    ] as const) {
      const res = await rawUnix(control, method, path);
      expect([res.status, res.body.error?.code]).toEqual([501, "unimplemented"]);
      expect(res.body.error?.message).toMatch(what);
      expect(res.body.error?.message).toMatch(/not available on a cluster control plane yet/);
    }
    // Placement by node labels, from the CLI: zone=b is n2; no node is zone=c; one daemon has no nodes.
    const inB = await sbxAsync([
      "new",
      "--node-selector",
      "zone=b",
      "--cpus",
      "0.25",
      "--memory",
      "128",
      "--no-internet",
      "--json",
    ]);
    expect(inB.code, inB.stderr).toBe(0);
    const b = JSON.parse(inB.stdout) as SandboxInfo;
    expect((await new SandboxClient({ host: nodes.n2!.host }).list()).map((x) => x.id)).toContain(b.id);
    expect((await client.terminate(b.id)).status).toBe("terminated");
    const none = await rejection(
      client.create({ cpus: 0.25, memoryMb: 128, placement: { nodeSelector: { zone: "c" } } }),
    );
    expect(none.code).toBe("failed_precondition");
    expect(none.message).toMatch(/no ready node has room .* with labels \{"zone":"c"\}/);
    const single = await rejection(
      new SandboxClient({ host: nodes.n1!.host }).create({ placement: { nodeSelector: { zone: "a" } } }),
    );
    expect([single.code, single.message]).toEqual([
      "failed_precondition",
      expect.stringMatching(/not a cluster control plane/),
    ]);
    // A project's quota, set with the CLI, is enforced at placement; one daemon has none to set.
    await client.createProject("capped");
    const set = await sbxAsync(["project", "quota", "capped", "--sandboxes", "0", "--memory", "1g", "--json"]);
    expect(set.code, set.stderr).toBe(0);
    expect(JSON.parse(set.stdout)).toEqual({ maxSandboxes: 0, maxCpus: null, maxMemoryMb: 1024 });
    const capped = new SandboxClient({ host: control.host, project: "capped" });
    expect(await capped.projectQuota("capped")).toEqual({ maxSandboxes: 0, maxCpus: null, maxMemoryMb: 1024 });
    const over = await rejection(capped.create({ cpus: 0.25, memoryMb: 128 }));
    expect([over.code, over.message]).toEqual([
      "failed_precondition",
      expect.stringMatching(/project capped would exceed its quota of 0 sandboxes/),
    ]);
    expect((await rejection(new SandboxClient({ host: nodes.n1!.host }).projectQuota("default"))).code).toBe(
      "failed_precondition",
    );
    // The same refusal as one daemon gives (here a node's own socket), never the node's 404 for "..".
    const dots = `/v1/sandboxes/${placed.n1![0]}/%2e%2e/%2e%2e/v1/pools`;
    const atControl = await rawUnix(control, "GET", dots);
    const atDaemon = await rawUnix(nodes.n1!, "GET", dots);
    expect(atControl.status).toBe(400);
    expect(atControl.body.error?.code).toBe("invalid_argument");
    expect([atControl.status, atControl.body.error?.message]).toEqual([atDaemon.status, atDaemon.body.error?.message]);
  });

  it("the port proxy and the Tensorlake routes reach sandboxes on their nodes through the control plane", async () => {
    const { token } = await client.createToken("default");
    const tl = tensorlakeCaller(fleet, token!);
    // Tensorlake create: placed on a node, answered with the control plane as sandbox_url.
    const created = await tl("/v1/namespaces/default/sandboxes", {
      method: "POST",
      body: { resources: { cpus: 0.25, memory_mb: 128 } },
    });
    expect(created.status).toBe(200);
    const made = created.json() as { sandbox_id: string; sandbox_url: string };
    expect(made.sandbox_url).toBe(fleet.controlUrl());
    const onNode = async (id: string): Promise<string | undefined> => {
      for (const name of ["n1", "n2"])
        if ((await new SandboxClient({ host: nodes[name]!.host }).list()).some((s) => s.id === id)) return name;
      return undefined;
    };
    expect(await onNode(made.sandbox_id)).toMatch(/^n[12]$/);
    // A process run, by X-Tensorlake-Sandbox-Id and by Host: <id>.local, streamed back as SSE.
    const byId: Array<Record<string, string>> = [
      { "x-tensorlake-sandbox-id": made.sandbox_id },
      { host: `${made.sandbox_id}.local` },
    ];
    for (const headers of byId) {
      const run = await tl("/api/v1/processes/run", {
        method: "POST",
        headers,
        body: { command: "sh", args: ["-c", "echo tl-$((6*7))"] },
      });
      expect(run.status).toBe(200);
      const events = run.text;
      expect(events).toContain('"line":"tl-42"');
      expect(events).toContain('"exit_code":0');
    }
    const got = (await tl(`/sandboxes/${made.sandbox_id}`)).json() as { status: string };
    expect(got.status).toBe("running");
    const listed = (await tl("/sandboxes")).json() as { sandboxes: Array<{ sandbox_id: string }> };
    expect(listed.sandboxes.map((s) => s.sandbox_id)).toContain(made.sandbox_id);
    const pools = await tl("/sandbox-pools");
    expect([pools.status, (pools.json() as { error: { code: string } }).error.code]).toEqual([501, "unimplemented"]);
    expect((await tl(`/sandboxes/${made.sandbox_id}`, { method: "DELETE" })).status).toBe(200);
    expect((await tl(`/sandboxes/${made.sandbox_id}`)).status).toBe(404);

    // The port proxy: <port>-<id>.localhost at the control plane's proxy, relayed to the node's
    // (the proxy reaches a sandbox over its network, so this one has one).
    const sb = await Sandbox.create({ cpus: 0.25, memoryMb: 128, allowInternetAccess: true }, client);
    try {
      await sb.writeFile("/srv/index.html", `port of ${sb.id}\n`);
      await sb.startProcess("/.sbx/busybox", { args: ["httpd", "-f", "-p", "8080", "-h", "/srv"] });
      const exposed = await sb.exposePort(8080);
      const host = `8080-${sb.id}.localhost`;
      await waitFor(
        async () => (await viaControlProxy(host, { "x-sbx-token": exposed.token })).status === 200,
        10_000,
        "httpd through the control plane's proxy",
      );
      expect(await viaControlProxy(host, { "x-sbx-token": exposed.token })).toEqual({
        status: 200,
        body: `port of ${sb.id}\n`,
      });
      expect((await viaControlProxy(host)).status).toBe(401);
      expect((await viaControlProxy(`8080-sb-nope.localhost`)).status).toBe(404);
    } finally {
      await sb.terminate();
    }
  });

  it("a frozen node (SIGSTOP) ends its calls in flight once its lease runs out, and comes back with SIGCONT", async () => {
    const sb = await Sandbox.connect(placed.n2![0]!, client);
    // A long call is streaming when the node freezes: its connection stays open, nothing answers.
    const inFlight = sb.run("sleep", { args: ["60"] }).then(
      () => "finished",
      (e: unknown) => (e instanceof Error ? e.message : String(e)),
    );
    await new Promise((r) => setTimeout(r, 500));
    fleet.freeze("n2");
    try {
      expect(await inFlight).not.toBe("finished");
      const lost = await rejection(sb.run("true"));
      expect(lost.code).toBe("node_unavailable");
      expect(lost.message).toMatch(/node n2/);
    } finally {
      fleet.thaw("n2");
    }
    await fleet.waitState("n2", "ready");
    expect((await sb.run("echo", { args: ["thawed"] })).stdout).toBe("thawed\n");
  });

  it("kill -9 of a node: its sandboxes are node_unavailable at once, the other's work; restarted, they are back", async () => {
    const [down, up] = [placed.n1![0]!, placed.n2![0]!];
    await nodes.n1!.stop("SIGKILL");
    const refused = await rejection(Sandbox.connect(down, client).then((sb) => sb.run("true")));
    expect(refused.code).toBe("node_unavailable");
    expect(refused.message).toMatch(/node n1/);
    expect((await (await Sandbox.connect(up, client)).run("echo", { args: ["still"] })).stdout).toBe("still\n");

    await fleet.waitState("n1", "lost");
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

    // Back with a certificate from another CA: registered, but the control plane refuses to call it.
    fleet.useCert("n1", "rogue");
    await nodes.n1!.start();
    await fleet.waitState("n1", "ready");
    const untrusted = await rejection(client.get(down));
    expect(untrusted.code).toBe("node_unavailable");
    expect(untrusted.message).toMatch(
      /node n1 .*TLS certificate does not verify against the control plane's --node-ca/,
    );
    await nodes.n1!.stop();
    fleet.useCert("n1", "node");
    await nodes.n1!.start();
    await waitFor(
      () =>
        client.get(down).then(
          () => true,
          () => false,
        ),
      30_000,
      "n1 answering with its own certificate",
    );
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

  it("a sandbox a node runs that the control plane never placed is destroyed by the node (a stray)", async () => {
    // Made on n1's own socket, as a create whose answer the control plane lost would leave it.
    const stray = await Sandbox.create(
      { cpus: 0.25, memoryMb: 128, allowInternetAccess: false },
      fleet.node("n1").local,
    );
    expect(await fleet.sandboxesOn("n1")).toContain(stray.id);
    await waitFor(async () => !(await fleet.sandboxesOn("n1")).includes(stray.id), 30_000, "the stray destroyed");
    const told = control.log.split("\n").find((l) => l.includes("does not know") && l.includes(stray.id));
    expect(told).toBeDefined();
    expect(nodes.n1!.log).toMatch(/or never placed them here/);
  });

  it("a revoked node drops its key: the key stops opening even that node", async () => {
    const k2 = await nodeKey("n2");
    expect((await nodeGet("n2", `Bearer ${k2}`)).status).toBe(200);
    const revoked = await sbxAsync(["node", "revoke", "n2"]);
    expect(revoked.code, revoked.stderr).toBe(0);
    // Its next heartbeat is refused (401), and the node forgets the key it held.
    await waitFor(async () => (await nodeGet("n2", `Bearer ${k2}`)).status === 401, 15_000, "n2 to drop its key");
    expect(nodes.n2!.log).toMatch(/control plane refused this node/);
  });
});

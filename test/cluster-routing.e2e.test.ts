// The cluster end to end on one machine: a control plane (sbxd --role control on a throwaway
// PostgreSQL) and two node daemons (sbxd --role node, each with its own data dir, socket, TCP
// port, subnet and veth prefix, real crun). Sandboxes created through the control plane are placed
// over both nodes; exec, files, background processes and a terminal (WebSocket) reach the node
// that runs each; a node's API refuses anything but the control plane; a node killed with -9 makes
// its sandboxes node_unavailable (the other node's keep working) and, restarted, brings them back;
// a frozen node (SIGSTOP) ends the calls in flight to it instead of leaving them hanging.
// Control → node calls carry each node's own key (another node's is refused) over TLS: the nodes
// serve certificates made by openssl here, and the control plane verifies them against --node-ca
// (a node whose certificate comes from another CA is node_unavailable). Also: the port proxy and
// the Tensorlake-compatible routes through the control plane, its refusals of calls that would act
// on the control host, and its dot-segment check before routing.
import { execFile, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Sandbox, SandboxClient, SbxError } from "@sbx-sh/sdk";
import type { ClusterNode, SandboxInfo } from "@sbx-sh/protocol";
import { startPgCluster, type PgCluster } from "../packages/daemon/src/testing/pg-cluster.js";
import { deriveNodeKey } from "../packages/daemon/src/cluster/node-key.js";
import { freePort, REPO, TestDaemon, waitFor } from "./harness.js";

const SECRET = "cluster-secret-for-the-routing-test-0123456789";
let pgc: PgCluster;
let control: TestDaemon;
const nodes: Record<string, TestDaemon> = {};
const nodePorts: Record<string, number> = {};
let client: SandboxClient;
let controlPort = 0;
let controlProxyPort = 0;
const placed: Record<string, string[]> = { n1: [], n2: [] };
let certs: { dir: string; ca: Buffer };

/** A CA and a certificate for 127.0.0.1 it signs (`name`), made by openssl; a second CA's as `rogue`. */
function makeCerts(): { dir: string; ca: Buffer } {
  const dir = mkdtempSync(join(tmpdir(), "sbx-cluster-tls-"));
  const ssl = (...args: string[]): void => {
    const r = spawnSync("openssl", args, { cwd: dir, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`openssl ${args.join(" ")}: ${r.stderr}`);
  };
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  writeFileSync(join(dir, "san.ext"), "subjectAltName=IP:127.0.0.1\n");
  for (const ca of ["ca", "rogue-ca"]) {
    ssl("req", "-x509", ...ec, "-keyout", `${ca}.key`, "-out", `${ca}.crt`, "-days", "2", "-subj", `/CN=${ca}`);
    const leaf = ca === "ca" ? "node" : "rogue";
    ssl("req", ...ec, "-keyout", `${leaf}.key`, "-out", `${leaf}.csr`, "-subj", "/CN=127.0.0.1");
    const signer = ["-CA", `${ca}.crt`, "-CAkey", `${ca}.key`, "-CAcreateserial", "-days", "2"];
    ssl("x509", "-req", "-in", `${leaf}.csr`, ...signer, "-out", `${leaf}.crt`, "-extfile", "san.ext");
  }
  return { dir, ca: readFileSync(join(dir, "ca.crt")) };
}

/** Serve a node's TCP API with `leaf`'s certificate (node: the cluster's CA; rogue: another one). */
function useCert(node: TestDaemon, leaf: "node" | "rogue"): void {
  Object.assign(node.env, {
    SBX_TLS_CERT: join(certs.dir, `${leaf}.crt`),
    SBX_TLS_KEY: join(certs.dir, `${leaf}.key`),
  });
}

/** A node's key as the control plane derives it, from the salt in PostgreSQL. */
async function nodeKey(name: string): Promise<string> {
  const db = new pg.Client({ connectionString: pgc.url });
  await db.connect();
  try {
    const { rows } = await db.query<{ key_salt: string }>("SELECT key_salt FROM sbx.nodes WHERE name = $1", [name]);
    return deriveNodeKey(SECRET, name, rows[0]!.key_salt);
  } finally {
    await db.end();
  }
}

/** GET on a node's own TCP API (TLS, verified against the test CA). */
function nodeGet(port: number, auth?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      { host: "127.0.0.1", port, path: "/v1/sandboxes", ca: certs.ca, headers: auth ? { authorization: auth } : {} },
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

/** A raw request over the unix socket of `daemon`, its path sent exactly as given. */
function rawUnix(
  daemon: TestDaemon,
  method: string,
  path: string,
): Promise<{ status: number; body: { error?: { code: string; message: string } } }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: daemon.socket, method, path, headers: { "x-sbx-project": "default" } }, (res) => {
      let text = "";
      res.on("data", (c: Buffer) => (text += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text || "{}") as never }));
    });
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
      { host: "127.0.0.1", port: controlProxyPort, path: "/index.html", headers: { ...headers, host } },
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

function sbx(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(REPO, "packages", "cli", "bin", "sbx.js"), ...args], {
    env: { ...process.env, SBX_HOST: control.host },
    encoding: "utf8",
    timeout: 60_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** The CLI without blocking this process, which reads the daemons' logs: a long command must not stall them. */
function sbxAsync(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(REPO, "packages", "cli", "bin", "sbx.js"), ...args],
      { env: { ...process.env, SBX_HOST: control.host }, encoding: "utf8", timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? -1) : 0, stdout, stderr }),
    );
  });
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
  pgc = await startPgCluster();
  certs = makeCerts();
  const port = (controlPort = await freePort());
  controlProxyPort = await freePort();
  control = new TestDaemon({
    name: "cl-control",
    netIndex: 7,
    extraArgs: [
      ...["--warm-pool", "0", "--role", "control", "--store", pgc.url, "--listen-tcp", `127.0.0.1:${port}`],
      ...["--node-ca", join(certs.dir, "ca.crt"), "--proxy-listen", `127.0.0.1:${controlProxyPort}`],
    ],
  });
  Object.assign(control.env, { SBX_CLUSTER_SECRET: SECRET, SBX_NODE_LEASE_SECS: "3" });
  await control.reset();
  await control.start();
  client = new SandboxClient({ host: control.host });
  await Promise.all(
    (["n1", "n2"] as const).map(async (name, i) => {
      const added = sbx(["node", "add", name, "--label", `zone=${i === 0 ? "a" : "b"}`, "--json"]);
      expect(added.code, added.stderr).toBe(0);
      nodePorts[name] = await freePort();
      const node = new TestDaemon({
        name: `cl-${name}`,
        netIndex: 8 + i,
        extraArgs: ["--warm-pool", "0", "--role", "node", "--listen-tcp", `127.0.0.1:${nodePorts[name]}`],
      });
      // No cluster secret on a node: the control plane hands it its own key.
      Object.assign(node.env, {
        SBX_CONTROL: `http://127.0.0.1:${port}`,
        SBX_NODE_TOKEN: (JSON.parse(added.stdout) as { token: string }).token,
      });
      useCert(node, "node");
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
  await pgc?.stop();
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

  it("a node's API (TLS) accepts only its own key: not another node's, a project token or the cluster secret", async () => {
    // A remote client with a project token goes through the control plane's TCP listener...
    const { token } = await client.createToken("default");
    const remote = new SandboxClient({ host: `http://127.0.0.1:${controlPort}`, token });
    const r = await (await Sandbox.connect(placed.n1![0]!, remote)).run("echo", { args: ["remote"] });
    expect(r.stdout).toBe("remote\n");
    // ...and the same token is worth nothing at a node, nor is the other node's key.
    const [k1, k2] = [await nodeKey("n1"), await nodeKey("n2")];
    expect(k1).not.toBe(k2);
    for (const auth of [undefined, `Bearer ${token}`, "Bearer sbxn_wrong", `Bearer ${SECRET}`, `Bearer ${k2}`]) {
      const res = await nodeGet(nodePorts.n1!, auth);
      expect(res.status).toBe(401);
      expect((JSON.parse(res.body) as { error: { message: string } }).error.message).toMatch(/only its control plane/);
    }
    expect((await nodeGet(nodePorts.n2!, `Bearer ${k1}`)).status).toBe(401);
    const ok = await nodeGet(nodePorts.n1!, `Bearer ${k1}`);
    expect(ok.status).toBe(200);
    expect((JSON.parse(ok.body) as { sandboxes: SandboxInfo[] }).sandboxes.map((s) => s.id).sort()).toEqual(
      [...placed.n1!].sort(),
    );
    expect((await nodeGet(nodePorts.n2!, `Bearer ${k2}`)).status).toBe(200);
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
    /** A Tensorlake-SDK-shaped call to the control plane's TCP listener (http.request: it sends Host as given). */
    const tl = (
      path: string,
      init: { method?: string; body?: unknown; headers?: Record<string, string> } = {},
    ): Promise<{ status: number; text: string; json: () => unknown }> =>
      new Promise((resolve, reject) => {
        const req = request(
          {
            host: "127.0.0.1",
            port: controlPort,
            path,
            method: init.method ?? "GET",
            headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...init.headers },
          },
          (res) => {
            let text = "";
            res.on("data", (c: Buffer) => (text += c.toString()));
            res.on("end", () =>
              resolve({ status: res.statusCode ?? 0, text, json: () => JSON.parse(text) as unknown }),
            );
          },
        );
        req.on("error", reject);
        req.end(init.body === undefined ? undefined : JSON.stringify(init.body));
      });
    // Tensorlake create: placed on a node, answered with the control plane as sandbox_url.
    const created = await tl("/v1/namespaces/default/sandboxes", {
      method: "POST",
      body: { resources: { cpus: 0.25, memory_mb: 128 } },
    });
    expect(created.status).toBe(200);
    const made = created.json() as { sandbox_id: string; sandbox_url: string };
    expect(made.sandbox_url).toBe(`http://127.0.0.1:${controlPort}`);
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

    // Back with a certificate from another CA: registered, but the control plane refuses to call it.
    useCert(nodes.n1!, "rogue");
    await nodes.n1!.start();
    await waitFor(() => nodeState("n1") === "ready", 30_000, "n1 ready again");
    const untrusted = await rejection(client.get(down));
    expect(untrusted.code).toBe("node_unavailable");
    expect(untrusted.message).toMatch(
      /node n1 .*TLS certificate does not verify against the control plane's --node-ca/,
    );
    await nodes.n1!.stop();
    useCert(nodes.n1!, "node");
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

  it("a revoked node drops its key: the key stops opening even that node", async () => {
    const k2 = await nodeKey("n2");
    expect((await nodeGet(nodePorts.n2!, `Bearer ${k2}`)).status).toBe(200);
    const revoked = await sbxAsync(["node", "revoke", "n2"]);
    expect(revoked.code, revoked.stderr).toBe(0);
    // Its next heartbeat is refused (401), and the node forgets the key it held.
    await waitFor(
      async () => (await nodeGet(nodePorts.n2!, `Bearer ${k2}`)).status === 401,
      15_000,
      "n2 to drop its key",
    );
    expect(nodes.n2!.log).toMatch(/control plane refused this node/);
  });
});

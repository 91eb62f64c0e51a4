// The cluster registry behind TLS and basic auth, end to end: Debian's docker-registry serving a
// certificate from a CA made here by openssl and asking for an htpasswd (bcrypt) password; a
// control plane (PostgreSQL) and two crun nodes started with --registry-ca and
// --registry-auth-file. A snapshot is pushed over TLS with the credentials and restores on the
// other node; a wrong password, and a CA that did not sign the registry's certificate, fail both
// the push and the pull clearly, with nothing reported committed and the sandbox running; fixed
// files take effect without a restart; the password shows in no log and no error.
import { copyFileSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Sandbox, SandboxClient, SbxError } from "@sbx-sh/sdk";
import { startPgCluster, type PgCluster } from "../packages/daemon/src/testing/pg-cluster.js";
import { makeTestCerts, type TestCerts } from "../packages/daemon/src/testing/test-certs.js";
import { freePort, TestDaemon, waitFor } from "./harness.js";
import { TestRegistry } from "./registry.js";

const SECRET = "cluster-secret-for-the-registry-auth-test-0123";
const PASSWORD = "reg-Pa55-e2e-0f3c9a";
const certs: TestCerts = makeTestCerts("sbx-registry-auth-");
const registry = new TestRegistry(
  { user: "sbx", password: PASSWORD },
  { tls: { cert: certs.cert, key: certs.key, ca: readFileSync(certs.ca) } },
);
let pg: PgCluster;
let control: TestDaemon;
const nodes: Record<string, TestDaemon> = {};
let client: SandboxClient;
const opts = { cpus: 0.25, memoryMb: 128, allowInternetAccess: false };
const basic = { authorization: `Basic ${Buffer.from(`sbx:${PASSWORD}`).toString("base64")}` };

/** Each daemon's own CA and auth files, so one node's can be made wrong while the others stay right. */
const files = (who: string): { ca: string; auth: string } => ({
  ca: join(certs.dir, `${who}-ca.pem`),
  auth: join(certs.dir, `${who}-auth`),
});
const setAuth = (who: string, password: string): void =>
  writeFileSync(files(who).auth, `sbx:${password}\n`, { mode: 0o600 });
const setCa = (who: string, ca: string): void => copyFileSync(ca, files(who).ca);

/** A create placed on `node` (nodes are labelled with their names). */
const createOn = (node: string, extra: { snapshotId?: string } = {}): Promise<Sandbox> =>
  Sandbox.create({ ...opts, ...extra, placement: { nodeSelector: { n: node } } }, client);

async function rejection(p: Promise<unknown>): Promise<SbxError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SbxError);
  return err as SbxError;
}

const manifestStatus = (tag: string): Promise<number> =>
  registry.status(`/v2/sbx/content/manifests/${tag}`, {
    ...basic,
    accept: "application/vnd.oci.image.manifest.v1+json",
  });

const local = (node: string): SandboxClient => new SandboxClient({ host: nodes[node]!.host });

beforeAll(async () => {
  await registry.start();
  pg = await startPgCluster();
  const port = await freePort();
  const registryArgs = (who: string): string[] => {
    setCa(who, certs.ca);
    setAuth(who, PASSWORD);
    return ["--warm-pool", "0", "--registry", registry.host, "--registry-ca", files(who).ca];
  };
  control = new TestDaemon({
    name: "ra-control",
    netIndex: 7,
    extraArgs: [
      ...registryArgs("control"),
      "--role",
      "control",
      "--store",
      pg.url,
      "--listen-tcp",
      `127.0.0.1:${port}`,
    ],
  });
  // The auth file by its environment variable here, by flag on the nodes: both are read.
  Object.assign(control.env, {
    SBX_CLUSTER_SECRET: SECRET,
    SBX_NODE_LEASE_SECS: "3",
    SBX_REGISTRY_AUTH_FILE: files("control").auth,
  });
  await control.reset();
  await control.start();
  client = new SandboxClient({ host: control.host });
  await Promise.all(
    (["n1", "n2"] as const).map(async (name, i) => {
      const { token } = await client.addNode(name, { n: name });
      const node = new TestDaemon({
        name: `ra-${name}`,
        netIndex: 8 + i,
        extraArgs: [
          ...registryArgs(name),
          ...["--registry-auth-file", files(name).auth, "--role", "node"],
          ...["--listen-tcp", `127.0.0.1:${await freePort()}`],
        ],
      });
      Object.assign(node.env, { SBX_CONTROL: `http://127.0.0.1:${port}`, SBX_NODE_TOKEN: token });
      nodes[name] = node;
      await node.reset();
      await node.start();
    }),
  );
  await waitFor(
    async () => (await client.listNodes()).filter((n) => n.state === "ready").length === 2,
    30_000,
    "both nodes ready",
  );
});

afterAll(async () => {
  for (const node of Object.values(nodes)) {
    const own = new SandboxClient({ host: node.host });
    for (const s of await own.list().catch(() => [])) await own.terminate(s.id).catch(() => undefined);
    await node.stop();
  }
  await control?.stop();
  await pg?.stop();
  await registry.stop();
  rmSync(certs.dir, { recursive: true, force: true });
});

describe("the cluster registry over TLS with credentials", () => {
  let good = "";
  let sb: Sandbox;

  it("pushes a snapshot over TLS with the credentials, and the other node pulls it", async () => {
    // The registry really asks: no credentials, 401; and it serves TLS only.
    expect(await registry.status("/v2/")).toBe(401);
    expect(await fetch(`http://${registry.host}/v2/`).then((r) => r.status)).toBe(400);
    // The control plane checked it at start with its credentials (SBX_REGISTRY_AUTH_FILE) and CA.
    await waitFor(() => control.log.includes("cluster registry answers"), 10_000, "the control plane's check");
    expect(control.log).toMatch(/"tls":true,"credentials":true/);

    sb = await createOn("n1");
    await sb.writeFile("/root/kept.txt", "pushed over TLS\n");
    const snap = await sb.snapshot();
    expect(snap.status).toBe("completed");
    expect(await manifestStatus(snap.id)).toBe(200);
    const restored = await createOn("n2", { snapshotId: snap.id });
    expect((await restored.readFile("/root/kept.txt")).toString()).toBe("pushed over TLS\n");
    await restored.terminate();
    good = snap.id;
  });

  it("a wrong password fails the push and the pull clearly, commits nothing, and the sandbox runs on", async () => {
    setAuth("n1", `wrong-${PASSWORD}`);
    const push = await rejection(sb.snapshot());
    expect(push.code).toBe("upstream_unreachable");
    expect(push.message).toMatch(/was not committed: the cluster registry .* refused this daemon's credentials/);
    const failed = (await local("n1").listSnapshots()).filter((s) => s.status === "failed");
    expect(failed).toHaveLength(1);
    expect(await manifestStatus(failed[0]!.id)).toBe(404);
    expect((await rejection(createOn("n2", { snapshotId: failed[0]!.id }))).code).toBe("not_found");
    expect((await sb.run("cat", { args: ["/root/kept.txt"] })).stdout).toBe("pushed over TLS\n");

    // The file fixed, the next snapshot goes (no restart); n2 with a wrong password cannot pull it.
    setAuth("n1", PASSWORD);
    await sb.writeFile("/root/second.txt", "second");
    const second = await sb.snapshot();
    expect(second.status).toBe("completed");
    setAuth("n2", `wrong-${PASSWORD}`);
    const before = (await local("n2").list()).length;
    const pull = await rejection(createOn("n2", { snapshotId: second.id }));
    expect(pull.code).toBe("upstream_unreachable");
    expect(pull.message).toMatch(/refused this daemon's credentials/);
    expect((await local("n2").listSnapshots()).map((s) => s.id)).not.toContain(second.id);
    expect((await local("n2").list()).length).toBe(before);
    setAuth("n2", PASSWORD);
    good = second.id;
  });

  it("a CA that did not sign the registry's certificate fails the push and the pull clearly", async () => {
    setCa("n1", certs.rogueCa);
    const push = await rejection(sb.snapshot());
    expect(push.code).toBe("upstream_unreachable");
    expect(push.message).toMatch(
      /was not committed: .*TLS certificate does not verify against this daemon's --registry-ca/,
    );
    const failed = (await local("n1").listSnapshots()).filter((s) => s.status === "failed");
    expect(failed).toHaveLength(2);
    for (const f of failed) expect(await manifestStatus(f.id)).toBe(404);
    expect((await sb.run("cat", { args: ["/root/second.txt"] })).stdout).toBe("second");

    setCa("n2", certs.rogueCa);
    const pull = await rejection(createOn("n2", { snapshotId: good }));
    expect(pull.code).toBe("upstream_unreachable");
    expect(pull.message).toMatch(/does not verify against this daemon's --registry-ca/);
    // Fixed, the same create works on n2 without a restart.
    setCa("n2", certs.ca);
    const restored = await createOn("n2", { snapshotId: good });
    expect((await restored.readFile("/root/second.txt")).toString()).toBe("second");
    await restored.terminate();
    setCa("n1", certs.ca);
    await sb.terminate();
  });

  it("shows the password in no daemon's log", () => {
    const encoded = Buffer.from(`sbx:${PASSWORD}`).toString("base64");
    for (const d of [control, nodes.n1!, nodes.n2!]) {
      expect(d.log).toContain("cluster registry");
      expect(d.log).not.toContain(PASSWORD);
      expect(d.log).not.toContain(encoded);
    }
    expect(readFileSync(files("n1").auth, "utf8")).toContain(PASSWORD);
  });
});

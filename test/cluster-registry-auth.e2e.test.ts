// The cluster registry behind TLS and basic auth, end to end on one machine (test/cluster-harness.ts):
// Debian's docker-registry on the fleet bridge serving a certificate from the CA the harness makes
// with openssl and asking for an htpasswd (bcrypt) password; a control plane (PostgreSQL) and two
// crun nodes, each in its own network namespace, started with --registry-ca and
// --registry-auth-file (each daemon its own copies). A snapshot is pushed over TLS with the
// credentials and restores on the other node; a wrong password, and a CA that did not sign the
// registry's certificate, fail both the push and the pull clearly, with nothing reported committed
// and the sandbox running; fixed files take effect without a restart; the password shows in no log
// and no error.
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Sandbox, SandboxClient } from "@sbx-sh/sdk";
import { Fleet, rejection, waitFor } from "./cluster-harness.js";

const PASSWORD = "reg-Pa55-e2e-0f3c9a";
let client: SandboxClient;
const opts = { cpus: 0.25, memoryMb: 128, allowInternetAccess: false };
const basic = { authorization: `Basic ${Buffer.from(`sbx:${PASSWORD}`).toString("base64")}` };

/** The fleet's CA (it signed the registry's certificate) and a rogue one (it did not). */
const certs = {
  get ca(): string {
    return join(fleet.certs.dir, "ca.crt");
  },
  get rogueCa(): string {
    return join(fleet.certs.dir, "rogue-ca.crt");
  },
};
/** Each daemon's own CA and auth files, so one node's can be made wrong while the others stay right. */
const files = (who: string): { ca: string; auth: string } => ({
  ca: join(fleet.certs.dir, `${who}-ca.pem`),
  auth: join(fleet.certs.dir, `${who}-auth`),
});
const setAuth = (who: string, password: string): void =>
  writeFileSync(files(who).auth, `sbx:${password}\n`, { mode: 0o600 });
const setCa = (who: string, ca: string): void => copyFileSync(ca, files(who).ca);

const fleet: Fleet = new Fleet({
  nodes: ["n1", "n2"].map((name) => ({ name, labels: { n: name } })),
  registry: true,
  registryAuth: { user: "sbx", password: PASSWORD },
  daemonExtras: (who) => {
    setCa(who, certs.ca);
    setAuth(who, PASSWORD);
    const ca = ["--registry-ca", files(who).ca];
    // The auth file by its environment variable on the control plane, by flag on the nodes: both are read.
    return who.startsWith("control")
      ? { args: ca, env: { SBX_REGISTRY_AUTH_FILE: files(who).auth } }
      : { args: [...ca, "--registry-auth-file", files(who).auth] };
  },
});

/** A create placed on `node` (nodes are labelled with their names). */
const createOn = (node: string, extra: { snapshotId?: string } = {}): Promise<Sandbox> =>
  Sandbox.create({ ...opts, ...extra, placement: { nodeSelector: { n: node } } }, client);

const manifestStatus = (tag: string): Promise<number> =>
  fleet.registry!.status(`/v2/sbx/content/manifests/${tag}`, {
    ...basic,
    accept: "application/vnd.oci.image.manifest.v1+json",
  });

const local = (node: string): SandboxClient => fleet.node(node).local;

beforeAll(async () => {
  await fleet.start();
  client = fleet.client();
});

afterAll(() => fleet.stop());

describe("the cluster registry over TLS with credentials", () => {
  let good = "";
  let sb: Sandbox;

  it("pushes a snapshot over TLS with the credentials, and the other node pulls it", async () => {
    // The registry really asks: no credentials, 401; and it serves TLS only.
    expect(await fleet.registry!.status("/v2/")).toBe(401);
    expect(await fetch(`http://${fleet.registry!.host}/v2/`).then((r) => r.status)).toBe(400);
    // The control plane checked it at start with its credentials (SBX_REGISTRY_AUTH_FILE) and CA.
    await waitFor(() => fleet.control().log.includes("cluster registry answers"), 10_000, "the control plane's check");
    expect(fleet.control().log).toMatch(/"tls":true,"credentials":true/);

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
    for (const d of [fleet.control(), fleet.node("n1").daemon, fleet.node("n2").daemon]) {
      expect(d.log).toContain("cluster registry");
      expect(d.log).not.toContain(PASSWORD);
      expect(d.log).not.toContain(encoded);
    }
    expect(readFileSync(files("n1").auth, "utf8")).toContain(PASSWORD);
  });
});

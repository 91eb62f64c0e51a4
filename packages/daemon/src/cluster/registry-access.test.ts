// The cluster registry's CA and credentials (--registry-ca, --registry-auth-file): how the files
// are read and checked, that a changed file takes effect without a restart, that the registry is
// reached over TLS verified against that CA, and that the password shows nowhere: not in errors,
// not when the object is logged or printed. Against a real HTTPS server asking for basic auth.
import { readFileSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { createServer, type Server } from "node:https";
import { join } from "node:path";
import { inspect } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SbxError } from "@sbx-sh/protocol";
import { defaultConfig, parseFlags } from "../config.js";
import { roleProblem } from "../config-roles.js";
import { makeTestCerts, type TestCerts } from "../testing/test-certs.js";
import { registryTrouble } from "./content-registry.js";
import { ClusterRegistry, parseRegistryAuth, parseRegistryCa } from "./registry-access.js";

const PASSWORD = "s3cret pass:with-colon";
let certs: TestCerts;
let server: Server;
let address = "";
const seen: string[] = [];

beforeAll(async () => {
  certs = makeTestCerts();
  server = createServer({ cert: readFileSync(certs.cert), key: readFileSync(certs.key) }, (req, res) => {
    const auth = req.headers.authorization ?? "";
    seen.push(auth);
    const ok = auth === `Basic ${Buffer.from(`sbx:${PASSWORD}`).toString("base64")}` || auth === "Bearer tok-123";
    if (!ok) {
      res.writeHead(401, { "www-authenticate": 'Basic realm="test"', "content-type": "application/json" });
      res.end(JSON.stringify({ errors: [{ code: "UNAUTHORIZED", message: "authentication required" }] }));
      return;
    }
    res.writeHead(200, { "content-type": "application/json" });
    res.end("{}");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  address = `127.0.0.1:${(server.address() as { port: number }).port}`;
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
  await rm(certs.dir, { recursive: true, force: true });
});

const file = (name: string, text: string): string => {
  const path = join(certs.dir, name);
  writeFileSync(path, text, { mode: 0o600 });
  return path;
};

async function failure(p: Promise<unknown>): Promise<SbxError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SbxError);
  return err as SbxError;
}

describe("cluster registry access", () => {
  it("reads user:password or a token, and refuses anything else without quoting it", () => {
    expect(parseRegistryAuth(`sbx:${PASSWORD}\n`)).toEqual({ username: "sbx", password: PASSWORD });
    expect(parseRegistryAuth(" token-with-spaces \r\n")).toEqual({ token: " token-with-spaces " });
    for (const bad of ["", "\n", `a:${PASSWORD}\nb:c`, `:${PASSWORD}`, "user:", `u:${PASSWORD}\x01`]) {
      let message = "";
      try {
        parseRegistryAuth(bad);
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message, JSON.stringify(bad)).not.toBe("");
      expect(message).not.toContain("s3cret");
    }
    expect(() => parseRegistryCa("not a certificate")).toThrow(/no PEM certificate/);
    expect(() => parseRegistryCa("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")).toThrow(
      /does not parse/,
    );
    expect(parseRegistryCa(certs.caPem)).toBe(certs.caPem);
  });

  it("reaches the registry over TLS with the CA and credentials, and shows the password nowhere", async () => {
    const r = await ClusterRegistry.open({
      registry: address,
      caFile: file("ca.pem", certs.caPem),
      authFile: file("auth", `sbx:${PASSWORD}\n`),
    });
    seen.length = 0;
    await r.probe();
    // A 401 challenge first, then the credentials: basic auth as the registry asked.
    expect(seen.at(-1)).toBe(`Basic ${Buffer.from(`sbx:${PASSWORD}`).toString("base64")}`);
    // Loopback, yet https: the CA says the registry serves TLS.
    expect((await r.client("snap_1")).base).toBe(`https://${address}`);
    expect((await r.client(null, "sha256:" + "c".repeat(64))).ref).toMatchObject({
      repository: "sbx/content",
      tag: null,
      digest: "sha256:" + "c".repeat(64),
    });
    for (const shown of [JSON.stringify({ registry: r }), String(r), inspect(r, { showHidden: true, depth: 9 })]) {
      expect(shown).toContain(address);
      expect(shown).not.toContain("s3cret");
    }
  });

  it("sends a bearer token as it is, without waiting for a challenge", async () => {
    const r = await ClusterRegistry.open({
      registry: address,
      caFile: file("ca-t.pem", certs.caPem),
      authFile: file("auth-t", "tok-123\n"),
    });
    seen.length = 0;
    await r.probe();
    expect(seen).toEqual(["Bearer tok-123"]);
  });

  it("takes a changed auth file or CA at the next use, and says what is wrong without the password", async () => {
    const caFile = file("ca2.pem", certs.caPem);
    const authFile = file("auth2", `sbx:wrong-${PASSWORD}\n`);
    const r = await ClusterRegistry.open({ registry: address, caFile, authFile });
    const refused = registryTrouble(address, await failure(r.probe()));
    expect(refused.code).toBe("upstream_unreachable");
    expect(refused.details).toMatchObject({ reason: "registry_auth_refused" });
    expect(refused.message).toMatch(/refused this daemon's credentials/);
    expect(refused.message).not.toContain("s3cret");

    writeFileSync(authFile, `sbx:${PASSWORD}\n`);
    await r.probe();

    writeFileSync(caFile, readFileSync(certs.rogueCa, "utf8"));
    const untrusted = registryTrouble(address, await failure(r.probe()));
    expect(untrusted.code).toBe("upstream_unreachable");
    expect(untrusted.details).toMatchObject({ reason: "registry_tls_verify_failed" });
    expect(untrusted.message).toMatch(/TLS certificate does not verify against this daemon's --registry-ca/);

    // A file that goes away is named, with the flag, at the next use.
    await rm(authFile);
    writeFileSync(caFile, certs.caPem);
    const gone = await failure(r.probe());
    expect(gone.message).toMatch(/--registry-auth-file .*auth2 cannot be read \(ENOENT\)/);
  });

  it("refuses to start with a missing or malformed file, naming it and not its contents", async () => {
    await expect(ClusterRegistry.open({ registry: address, caFile: join(certs.dir, "nope.pem") })).rejects.toThrow(
      /--registry-ca .*nope\.pem cannot be read \(ENOENT\)/,
    );
    const twoLines = file("auth3", `sbx:${PASSWORD}\nmore\n`);
    const err = await ClusterRegistry.open({ registry: address, authFile: twoLines }).catch((e: Error) => e);
    expect(String(err)).toMatch(/--registry-auth-file .*auth3 must hold one line/);
    expect(String(err)).not.toContain("s3cret");
    // Without a CA a loopback registry is plain HTTP, anything else https.
    expect((await (await ClusterRegistry.open({ registry: "127.0.0.1:5000" })).client("t")).base).toBe(
      "http://127.0.0.1:5000",
    );
    expect((await (await ClusterRegistry.open({ registry: "registry.internal:5000" })).client("t")).base).toBe(
      "https://registry.internal:5000",
    );
  });

  it("config: --registry-ca and --registry-auth-file (or SBX_ variables) need --registry, credentials never in it", () => {
    const env = { SBX_CLUSTER_SECRET: "x".repeat(32), SBX_REGISTRY_AUTH_FILE: "/etc/sbx/registry-auth" };
    const cfg = parseFlags(
      ["--role", "node", "--registry", "r.internal:5000", "--registry-ca=/etc/sbx/registry-ca.crt"],
      defaultConfig(env),
    );
    expect(cfg).toMatchObject({ registryCa: "/etc/sbx/registry-ca.crt", registryAuthFile: "/etc/sbx/registry-auth" });
    expect(defaultConfig({ SBX_REGISTRY_CA: "/ca.pem" }).registryCa).toBe("/ca.pem");
    expect(defaultConfig({}).registryAuthFile).toBeNull();
    const control = { ...defaultConfig(env), role: "control" as const, store: "postgres://h/db" };
    expect(roleProblem({ ...control, registry: "r.internal:5000" })).toBeNull();
    expect(roleProblem(control)).toMatch(/--registry-ca and --registry-auth-file are for the cluster registry/);
    const inUrl = roleProblem({ ...control, registry: `sbx:${PASSWORD}@r.internal:5000` });
    expect(inUrl).toMatch(/credentials go in a file named by --registry-auth-file/);
    expect(inUrl).not.toContain("s3cret");
  });
});

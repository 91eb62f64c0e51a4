// Host CAs (sbxd --ca-cert): a daemon given a CA makes every sandbox and build step trust it, on top
// of the image's own trust store, without changing the image. Proven with OpenSSL inside: the image
// (debian-minimal plus the host's openssl binary and libraries, and a store holding only an "image
// CA") verifies a server certificate of the extra CA both in a build RUN step and in a sandbox, while
// the image's own store alone does not; certificates of the image's CA still verify.
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Image, Sandbox, SandboxClient } from "@sbx-sh/sdk";
import { TestDaemon } from "./harness.js";

const STORE = "/etc/ssl/certs/ca-certificates.crt";
const LIBS = "/usr/lib/x86_64-linux-gnu";
let ctx: string;
let daemon: TestDaemon;
let client: SandboxClient;

/** A CA and a server certificate it signed, as PEM files in the context dir. */
function makeCa(name: string): void {
  const ssl = (...args: string[]) => execFileSync("openssl", args, { cwd: ctx, stdio: "ignore" });
  ssl(
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-days",
    "2",
    "-subj",
    `/CN=sbx test ${name} CA`,
    "-keyout",
    `${name}-ca.key`,
    "-out",
    `${name}-ca.pem`,
  );
  ssl(
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-subj",
    `/CN=${name}.example`,
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.csr`,
  );
  ssl(
    "x509",
    "-req",
    "-in",
    `${name}.csr`,
    "-CA",
    `${name}-ca.pem`,
    "-CAkey",
    `${name}-ca.key`,
    "-CAcreateserial",
    "-days",
    "2",
    "-out",
    `${name}-server.pem`,
  );
}

beforeAll(async () => {
  ctx = mkdtempSync(join(tmpdir(), "sbx-host-ca-"));
  makeCa("proxy");
  makeCa("image");
  copyFileSync(realpathSync("/usr/bin/openssl"), join(ctx, "openssl"));
  for (const lib of ["libssl.so.3", "libcrypto.so.3"]) copyFileSync(realpathSync(join(LIBS, lib)), join(ctx, lib));
  daemon = new TestDaemon({
    name: "host-ca",
    netIndex: 8,
    extraArgs: ["--warm-pool", "0", "--ca-cert", join(ctx, "proxy-ca.pem")],
  });
  await daemon.reset();
  await daemon.start();
  client = new SandboxClient({ host: daemon.host });
}, 120_000);
afterAll(async () => {
  for (const s of await client.list().catch(() => [])) await client.terminate(s.id).catch(() => undefined);
  await daemon.stop();
  rmSync(ctx, { recursive: true, force: true });
});

const verify = (caFile: string, cert: string) => `/usr/local/bin/openssl verify -CAfile ${caFile} /certs/${cert}`;

describe("host CAs", () => {
  it("are trusted by build steps and sandboxes, on top of the image's store, which stays unchanged", async () => {
    await new Image({ name: "ca-check", baseImage: "debian-minimal" })
      .copy("openssl", "/usr/local/bin/openssl")
      .copy(["libssl.so.3", "libcrypto.so.3"], `${LIBS}/`)
      .copy(["proxy-server.pem", "image-server.pem"], "/certs/")
      .copy("image-ca.pem", STORE)
      .copy("image-ca.pem", "/image-only.crt")
      // Fails the build unless the build step's store trusts the proxy CA.
      .run(`${verify(STORE, "proxy-server.pem")} > /build-verify.txt`)
      .build({ client, contextDir: ctx, replace: true });

    const sb = await Sandbox.create({ image: "ca-check", allowInternetAccess: false, timeoutSecs: 120 }, client);
    const sh = (cmd: string) => sb.run("/bin/sh", { args: ["-c", cmd] });
    expect((await sb.readFile("/build-verify.txt")).toString()).toBe("/certs/proxy-server.pem: OK\n");
    const proxy = await sh(verify(STORE, "proxy-server.pem"));
    expect(proxy.stdout).toBe("/certs/proxy-server.pem: OK\n");
    expect(proxy.exitCode).toBe(0);
    // The image's own CAs are kept.
    expect((await sh(verify(STORE, "image-server.pem"))).exitCode).toBe(0);
    // The image's store alone does not trust the proxy: the trust came from --ca-cert.
    const alone = await sh(verify("/image-only.crt", "proxy-server.pem"));
    expect(alone.exitCode).not.toBe(0);
    // The bundle is a read-only mount, not a change to the sandbox or its image.
    const write = await sh(`echo x >> ${STORE}`);
    expect(write.exitCode).not.toBe(0);
    const store = (await sb.readFile(STORE)).toString();
    expect(store.startsWith(readFileSync(join(ctx, "image-ca.pem"), "utf8"))).toBe(true);
    expect(store).toContain(readFileSync(join(ctx, "proxy-ca.pem"), "utf8").trim());
  });

  it("leave an image without a trust store as it is", async () => {
    const sb = await Sandbox.create({ image: "debian-minimal", allowInternetAccess: false, timeoutSecs: 60 }, client);
    const r = await sb.run("/bin/sh", { args: ["-c", `test -e ${STORE} || echo none`] });
    expect(r.stdout).toBe("none\n");
  });
});

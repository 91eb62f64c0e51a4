// NODE_EXTRA_CA_CERTS through the real launcher (bin/sbx.js run as a program, so its shell lines keep
// the variable from node's start): the file's CA is trusted for sbxd over https:// and for an image's
// download, only when TLS is used; without the variable the same connections fail with a clear TLS
// error; the processes the CLI starts get the variable as the user set it; a missing file costs a
// command that makes no TLS connection nothing, not even Node's own start-up warning; the launcher
// works behind the links npm and setup.sh make.
import { spawn } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { VERSION } from "@sbx-sh/protocol";
import { SandboxClient } from "@sbx-sh/sdk";
import { makeTestCerts, type TestCerts } from "../../daemon/src/testing/test-certs.js";
import { TestDaemon } from "../../daemon/src/testing/test-daemon.js";

const BIN = fileURLToPath(new URL("../bin/sbx.js", import.meta.url));
const work = mkdtempSync(join(tmpdir(), "sbx-extra-ca-"));
let certs: TestCerts;
let daemon: TestDaemon;
let token: string;
let sandboxId: string;
let files: Server;
let filesUrl: string;

beforeAll(async () => {
  certs = makeTestCerts();
  daemon = await TestDaemon.start({ tls: { cert: certs.cert, key: certs.key } });
  token = (await daemon.services.projects.createToken("default")).token;
  sandboxId = (await new SandboxClient({ host: daemon.host }).create({ image: "debian-minimal" })).id;
  // A file server whose certificate the same private CA signs: an image's `ADD https://...`.
  files = createServer({ cert: readFileSync(certs.cert), key: readFileSync(certs.key) }, (_req, res) =>
    res.end("hello over tls\n"),
  );
  await new Promise<void>((resolve) => files.listen(0, "127.0.0.1", resolve));
  filesUrl = `https://127.0.0.1:${(files.address() as { port: number }).port}/hello.txt`;
}, 60_000);
afterAll(async () => {
  await new Promise((resolve) => files?.close(resolve));
  await daemon?.stop();
  rmSync(work, { recursive: true, force: true });
  if (certs) rmSync(certs.dir, { recursive: true, force: true });
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs bin/sbx.js (or `program`, a link to it) as the program it is, a shell script first, with NODE_EXTRA_CA_CERTS = `extraCa`. */
function sbx(args: string[], extraCa: string | undefined, env: NodeJS.ProcessEnv = {}, program = BIN): Promise<Run> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, SBX_CONFIG: join(work, "none.json"), ...env };
  delete childEnv.NODE_EXTRA_CA_CERTS;
  delete childEnv.SBX_NODE_EXTRA_CA_CERTS;
  if (extraCa !== undefined) childEnv.NODE_EXTRA_CA_CERTS = extraCa;
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { env: childEnv, cwd: work });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d));
    child.stderr.on("data", (d: Buffer) => (stderr += d));
    child.once("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

const overTls = (): NodeJS.ProcessEnv => ({ SBX_HOST: daemon.tcpHost, SBX_TOKEN: token });

describe("NODE_EXTRA_CA_CERTS through the sbx launcher", () => {
  it("trusts the file's CA for an https:// sbxd, and only with it", async () => {
    const trusted = await sbx(["ls", "-q"], certs.ca, overTls());
    expect(trusted.stderr).toBe("");
    expect(trusted.code).toBe(0);
    expect(trusted.stdout.trim().split("\n")).toContain(sandboxId);

    const untrusted = await sbx(["ls", "-q"], undefined, overTls());
    expect(untrusted.code).not.toBe(0);
    expect(untrusted.stderr).toMatch(/cannot verify sbxd's certificate at https:\/\/127\.0\.0\.1:\d+.*--ca FILE/);

    // Another CA's file is no substitute.
    const rogue = await sbx(["ls", "-q"], certs.rogueCa, overTls());
    expect(rogue.code).not.toBe(0);
    expect(rogue.stderr).toMatch(/cannot verify sbxd's certificate/);

    // A CA given with --ca replaces the default trust, the file's certificates too (as in Node).
    const replaced = await sbx(["ls", "-q", "--ca", certs.rogueCa], certs.ca, overTls());
    expect(replaced.code).not.toBe(0);
    expect(replaced.stderr).toMatch(/cannot verify sbxd's certificate/);
  }, 60_000);

  it("trusts it for an image's download too (fetch in the CLI)", async () => {
    const dockerfile = join(work, "Dockerfile");
    writeFileSync(dockerfile, `FROM debian-minimal\nADD ${filesUrl} /hello.txt\n`);
    const host = { SBX_HOST: daemon.host };
    const built = await sbx(["image", "create", dockerfile, "-n", "downloaded", "-q"], certs.ca, host);
    expect(built.stderr).toBe("");
    expect(built.code).toBe(0);
    expect(built.stdout.trim()).toMatch(/^sha256:/);

    const refused = await sbx(["image", "create", dockerfile, "-n", "refused", "-q"], undefined, host);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain(`cannot download ${filesUrl}`);
    expect(refused.stderr).toMatch(/certificate/);
  }, 60_000);

  it("gives the processes it starts the variable unchanged", async () => {
    // SBX_PYTHON stands in for python3: it reports the environment it was given as the load's error.
    const python = join(work, "python");
    writeFileSync(
      python,
      `#!/bin/sh\nprintf '{"error":{"message":"NODE_EXTRA_CA_CERTS=%s SBX_NODE_EXTRA_CA_CERTS=%s"}}' "\${NODE_EXTRA_CA_CERTS-unset}" "\${SBX_NODE_EXTRA_CA_CERTS-unset}" >&3\n`,
    );
    chmodSync(python, 0o755);
    const image = join(work, "image.py");
    writeFileSync(image, "from sbx_sdk import Image\n");
    const r = await sbx(["image", "create", image], certs.ca, { SBX_PYTHON: python, SBX_HOST: daemon.host });
    expect(r.stderr).toContain(`NODE_EXTRA_CA_CERTS=${certs.ca} SBX_NODE_EXTRA_CA_CERTS=unset`);
  }, 60_000);

  it("reads the file only for TLS: a missing one costs other commands nothing, and is said when TLS is used", async () => {
    const missing = join(work, "no-such-ca.pem");
    // Node itself, given the variable at its start, warns on every command.
    const direct = await new Promise<Run>((resolve) => {
      const env = { ...process.env, NODE_EXTRA_CA_CERTS: missing };
      const child = spawn(process.execPath, [BIN, "--version"], { env });
      let stderr = "";
      child.stderr.on("data", (d: Buffer) => (stderr += d));
      child.on("close", (code) => resolve({ code, stdout: "", stderr }));
    });
    expect(direct.stderr).toContain(`Ignoring extra certs from \`${missing}\``);

    const version = await sbx(["--version"], missing);
    expect(version).toEqual({ code: 0, stdout: `${VERSION}\n`, stderr: "" });

    const tls = await sbx(["ls", "-q"], missing, overTls());
    expect(tls.code).not.toBe(0);
    const warning = `warning: NODE_EXTRA_CA_CERTS: cannot read ${missing} (ENOENT): TLS trusts the default CAs only`;
    expect(tls.stderr.split("\n")[0]).toBe(warning);
    expect(tls.stderr.split(warning).length).toBe(2);
    expect(tls.stderr).toMatch(/cannot verify sbxd's certificate/);
  }, 60_000);

  it("starts through links, as npm's bin link (relative) and setup.sh's /usr/local/bin/sbx (absolute) start it", async () => {
    // Node follows them to the launcher's own folder, and from there finds the CLI.
    mkdirSync(join(work, "prefix", "bin"), { recursive: true });
    symlinkSync(BIN, join(work, "prefix", "sbx.js"));
    symlinkSync("../sbx.js", join(work, "prefix", "bin", "sbx"));
    const linked = await sbx(["--version"], certs.ca, {}, join(work, "prefix", "bin", "sbx"));
    expect(linked).toEqual({ code: 0, stdout: `${VERSION}\n`, stderr: "" });
  }, 60_000);
});

// Projects, tokens and contexts from the CLI against a real daemon that serves TCP with TLS (a
// certificate made by openssl here): a project is created, selected once with `project use`, a
// token reaches it over HTTPS through a context, and the refusals (the token in use, the current
// or a non-empty project, a config file others can read, an untrusted certificate) change nothing.
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SandboxClient } from "@sbx-sh/sdk";
import { freePort, REPO, TestDaemon } from "./harness.js";

let daemon: TestDaemon;
let port = 0;
const dir = mkdtempSync(join(tmpdir(), "sbx-cli-projects-"));
const config = join(dir, "config");
const cert = join(dir, "cert.pem");
const key = join(dir, "key.pem");

/** The CLI with a private config dir and no SBX_* from the outside. */
function sbx(args: string[], env: Record<string, string> = {}): { code: number; stdout: string; stderr: string } {
  const base = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith("SBX_") || k === "SBX_FROM_SOURCE"),
  );
  const r = spawnSync(process.execPath, [join(REPO, "packages", "cli", "bin", "sbx.js"), ...args], {
    env: { ...base, XDG_CONFIG_HOME: config, ...env },
    encoding: "utf8",
    timeout: 120_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
const local = () => ({ SBX_HOST: daemon.host });

beforeAll(async () => {
  const made = spawnSync("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    key,
    "-out",
    cert,
    "-days",
    "1",
    "-subj",
    "/CN=127.0.0.1",
    "-addext",
    "subjectAltName=IP:127.0.0.1",
  ]);
  expect(made.status, made.stderr?.toString()).toBe(0);
  port = await freePort();
  daemon = new TestDaemon({
    name: "cli-projects",
    netIndex: 7,
    extraArgs: ["--warm-pool", "0", "--listen-tcp", `127.0.0.1:${port}`, "--tls-cert", cert, "--tls-key", key],
  });
  await daemon.reset();
  await daemon.start();
});
afterAll(async () => {
  const c = new SandboxClient({ host: daemon.host, project: "ml", env: {} });
  for (const s of await c.list().catch(() => [])) await c.terminate(s.id).catch(() => undefined);
  await daemon.stop();
});

describe("sbx project, token and context", () => {
  it("creates, lists and selects a project once; later commands work in it", () => {
    expect(sbx(["project", "create", "ml"], local())).toMatchObject({ code: 0, stdout: "ml\n" });
    expect(sbx(["project", "ls", "-q"], local()).stdout.split("\n")).toEqual(expect.arrayContaining(["default", "ml"]));
    // A local context that names the daemon's socket, then the project chosen once.
    expect(sbx(["context", "add", "here", "--host", daemon.host, "--use"]).code).toBe(0);
    expect(sbx(["project", "use", "nope"]).code).toBe(1);
    expect(sbx(["project", "use", "ml"]).code).toBe(0);
    const file = join(config, "sbx", "config.json");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(file, "utf8"))).toMatchObject({
      current: "here",
      contexts: { here: { project: "ml" } },
    });
    const listed = JSON.parse(sbx(["project", "ls", "--json"]).stdout) as Array<{ name: string; current: boolean }>;
    expect(listed.find((p) => p.current)?.name).toBe("ml");
  });

  it("refuses to delete the current project, the default one, or a project that is not empty", async () => {
    const current = sbx(["project", "rm", "ml"]);
    expect(current.code).toBe(1);
    expect(current.stderr).toMatch(/current project.*sbx project use default/);
    expect(sbx(["project", "rm", "default"], local()).stderr).toMatch(/cannot be deleted/);
    // Setup through the SDK: the CLI is what is under test.
    const ml = new SandboxClient({ host: daemon.host, project: "ml", env: {} });
    const sb = await ml.create({ allowInternetAccess: false });
    const busy = sbx(["project", "rm", "ml"], local());
    expect(busy.code).toBe(1);
    expect(busy.stderr).toMatch(/not empty \(1 sandboxes/);
    await ml.terminate(sb.id);
    expect((await ml.listProjects()).map((p) => p.name)).toContain("ml");
    await ml.close();
  });

  it("creates tokens, reaches the project over TLS with one, and never revokes the token in use", () => {
    const t1 = sbx(["token", "create", "-q", "--project", "ml"], local()).stdout.trim();
    const made = JSON.parse(sbx(["token", "create", "--json", "--project", "ml"], local()).stdout) as {
      id: string;
      token: string;
    };
    expect(t1).toMatch(/^sbxt_/);
    const ids = sbx(["token", "ls", "-q", "--project", "ml"], local()).stdout.trim().split("\n");
    expect(ids).toHaveLength(2);
    expect(ids).toContain(made.id);
    // Without the CA the certificate is not trusted, and the message says how to give it.
    const https = `https://127.0.0.1:${port}`;
    const untrusted = sbx(["token", "ls", "-q"], { SBX_HOST: https, SBX_TOKEN: t1 });
    expect(untrusted.code).toBe(1);
    expect(untrusted.stderr).toMatch(/cannot verify sbxd's certificate.*--ca/);
    expect(sbx(["context", "add", "remote", "--host", https, "--token", t1, "--ca", cert, "--use"]).code).toBe(0);
    expect(sbx(["token", "ls", "-q"]).stdout.trim().split("\n").sort()).toEqual([...ids].sort());
    // Over TCP the token decides: --project naming another (default too) is refused, not ignored.
    for (const named of ["default", "other"]) {
      const refused = sbx(["--project", named, "ls"]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain(`this token belongs to project ml, not "${named}"`);
    }
    expect(sbx(["--project", "ml", "ls", "-q"]).code).toBe(0);
    const t1id = ids.find((i) => i !== made.id)!;
    const self = sbx(["token", "revoke", t1id]);
    expect(self.code).toBe(1);
    expect(self.stderr).toMatch(/the one this request was made with/);
    expect(sbx(["token", "revoke", made.id])).toMatchObject({ code: 0, stdout: `${made.id}\n` });
    expect(sbx(["token", "ls", "-q"]).stdout.trim()).toBe(t1id);
    // The revoked token is refused.
    expect(sbx(["ls"], { SBX_HOST: https, SBX_TOKEN: made.token, SBX_CA_CERT: cert }).stderr).toMatch(/bearer token/);
    // Plain HTTP to the TLS port gets nowhere.
    expect(sbx(["ls"], { SBX_HOST: `http://127.0.0.1:${port}`, SBX_TOKEN: t1 }).code).not.toBe(0);
  });

  it("lists and removes contexts, never printing tokens, and refuses a config file others can read", () => {
    const ls = sbx(["context", "ls", "--json"]);
    expect(ls.stdout).not.toContain("sbxt_");
    expect(JSON.parse(ls.stdout)).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: "remote", current: true, token: true })]),
    );
    const file = join(config, "sbx", "config.json");
    const before = readFileSync(file, "utf8");
    chmodSync(file, 0o644);
    const open = sbx(["context", "use", "here"]);
    expect(open.code).toBe(1);
    expect(open.stderr).toMatch(/others can read it \(mode 0644\).*chmod 600/);
    expect(sbx(["ls"]).stderr).toMatch(/chmod 600/);
    expect(readFileSync(file, "utf8")).toBe(before);
    chmodSync(file, 0o600);
    expect(sbx(["context", "rm", "remote", "nope"]).code).toBe(1);
    expect(sbx(["context", "rm", "remote"]).code).toBe(0);
    expect(sbx(["context", "ls", "-q"]).stdout).toBe("here\n");
    // No current context any more: the default project again, explicitly chosen here.
    expect(sbx(["context", "use", "here"]).code).toBe(0);
    expect(sbx(["project", "use", "default"]).code).toBe(0);
    expect(sbx(["project", "rm", "ml"])).toMatchObject({ code: 0, stdout: "ml\n" });
  });
});

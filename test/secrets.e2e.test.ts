// Secrets end to end: given at create (API/SDK `secrets`, CLI `--secret`), they reach every
// process and terminal as env, but info, ls, the API and the daemon's database and log never
// hold the value; the value sits in a 0600 file that goes with the sandbox. `-e` stays visible.
// A program that prints a secret shows `***` in its output, streamed or read back as a log, even
// when the value arrives in two writes.
// Bad names are refused and create nothing.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { sharedClient, useSandboxes } from "./fixtures.js";
import { REPO, testDaemonRoot } from "./harness.js";

const host = inject("sbxHost");
const client = sharedClient();
const sandbox = useSandboxes(client);
const dataDir = join(testDaemonRoot("shared"), "data");
const VALUE = "s3cr3t-" + Math.random().toString(36).slice(2);

function sbx(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(REPO, "packages", "cli", "bin", "sbx.js"), ...args], {
    env: { ...process.env, SBX_HOST: host },
    encoding: "utf8",
    timeout: 120_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Every file of the data dir but the secrets, searched for the value (sbx.db and its WAL, logs, records). */
function filesHolding(value: string, dir = dataDir): string[] {
  const hits: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p, { throwIfNoEntry: false });
    if (!st || name === "secrets" || name === "layers" || name === "sandboxes") continue;
    if (st.isDirectory()) hits.push(...filesHolding(value, p));
    else if (st.isFile() && st.size < 64 << 20 && readFileSync(p).includes(value)) hits.push(p);
  }
  return hits;
}

describe("secrets", () => {
  it("reach processes as env but never the API, the database or the logs; the file is 0600 and goes with the sandbox", async () => {
    const sb = await sandbox({ env: { PLAIN: "visible" }, secrets: { API_TOKEN: VALUE } });
    // The value is in the env (its digest says so), but printing it shows `***`.
    const digest = createHash("sha256").update(VALUE).digest("hex");
    const r = await sb.run("sh", {
      args: ["-c", 'echo "$(printf %s "$API_TOKEN" | sha256sum | cut -d" " -f1) $API_TOKEN $PLAIN"'],
    });
    expect(r.stdout).toBe(`${digest} *** visible\n`);
    const info = await sb.info();
    expect(info.env).toEqual({ PLAIN: "visible" });
    expect(info.secrets).toEqual(["API_TOKEN"]);
    expect(JSON.stringify(await client.list())).not.toContain(VALUE);
    const cliInfo = sbx(["info", sb.id, "--json"]);
    expect(cliInfo.stdout).toContain("API_TOKEN");
    expect(cliInfo.stdout + sbx(["ls", "--json"]).stdout).not.toContain(VALUE);
    expect(filesHolding(VALUE)).toEqual([]);
    const file = join(dataDir, "secrets", `${sb.id}.json`);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(dataDir, "secrets")).mode & 0o777).toBe(0o700);
    await sb.terminate();
    expect(existsSync(file)).toBe(false);
  });

  it("takes --secret from the CLI without echoing a malformed one", async () => {
    const r = sbx(["run", "--secret", `TOKEN=${VALUE}`, "--", "sh", "-c", 'test "$TOKEN" = ' + VALUE + " && echo ok"]);
    expect([r.code, r.stdout]).toEqual([0, "ok\n"]);
    const bad = sbx(["new", "--secret", `1BAD=${VALUE}`]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/environment variable name/);
    expect(bad.stderr).not.toContain(VALUE);
  });

  it("are masked in process output, streamed and as logs, also when written in two pieces", async () => {
    const sb = await sandbox({ secrets: { API_TOKEN: VALUE, OTHER: "another-secret" } });
    // The value in two writes with a pause between, on stdout and stderr, then whole, then a
    // prefix of it alone (not a secret: shown as is).
    const script = [
      'rest=${API_TOKEN#?????}; head=${API_TOKEN%"$rest"}',
      'printf "a=%s" "$head"; sleep 0.3; printf "%s.\\n" "$rest"',
      'printf "e=%s" "$head" >&2; sleep 0.3; printf "%s.\\n" "$rest" >&2',
      'echo "b=$API_TOKEN$OTHER c=$head"',
    ].join("; ");
    const want = { stdout: "a=***.\nb=****** c=s3cr3\n", stderr: "e=***.\n" };
    const r = await sb.run("sh", { args: ["-c", script] });
    expect({ stdout: r.stdout, stderr: r.stderr }).toEqual(want);
    // A background process's log through the CLI, followed to its end and read again afterwards.
    const pid = sbx(["exec", "-d", sb.id, "--", "sh", "-c", script]).stdout.trim();
    const followed = sbx(["logs", sb.id, pid, "-f"]);
    expect({ stdout: followed.stdout, stderr: followed.stderr }).toEqual(want);
    const again = sbx(["logs", sb.id, pid]);
    expect(again.stdout + again.stderr).not.toContain(VALUE);
    expect(again.stdout).toBe(want.stdout);
  });

  it("refuses a secret name that is not an env name, and creates nothing", async () => {
    const before = (await client.list()).length;
    for (const name of ["1ABC", "A-B", "A B", "A\nB"])
      await expect(client.create({ secrets: { [name]: "x" } })).rejects.toMatchObject({ code: "invalid_argument" });
    expect((await client.list()).length).toBe(before);
  });
});

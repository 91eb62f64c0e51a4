// Copying out of a hostile sandbox (`sbx cp` sandbox→host, the SDK's downloadDirectory) when the
// sandbox forges the archive itself: the probe holds a write lease on the file being copied, so
// the daemon's tar helper blocks before writing a byte; the probe then ptraces the helper, writes
// its own tar into the helper's stdout and makes it exit cleanly. The daemon streams that tar as
// the archive. `..` names, absolute names, links out, writes through links, hard links to host
// files, device nodes and setuid bits must not reach the host outside the destination.
// Host→sandbox copies of links are in paths.e2e.test.ts / isolation.e2e.test.ts.
import { spawnSync } from "node:child_process";
import { lstatSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { Sandbox } from "@sbx-sh/sdk";
import { REPO, waitFor } from "../harness.js";
import { useSandboxes } from "../fixtures.js";
import { HostCanary, hostPathsAbsent, installProbe, rawTar } from "./kit.js";

const sandbox = useSandboxes();
let sb: Sandbox;
const canary = new HostCanary("cp");
const tag = `${process.pid}-${Date.now()}`;
const work = `/tmp/sbx-adv-cp-${tag}`;

const FORGED = rawTar([
  { path: "payload", body: "forged but harmless\n" },
  { path: `../escape-dots-${tag}`, body: "dots" },
  { path: `payload/../../escape-nested-${tag}`, body: "nested dots" },
  { path: `/tmp/sbx-adv-abs-${tag}`, body: "absolute" },
  { path: "lnk", type: "SymbolicLink", linkpath: canary.dir },
  { path: `lnk/through-${tag}`, body: "through a symlink" },
  { path: "up", type: "SymbolicLink", linkpath: "../../../../../../tmp" },
  { path: `up/sbx-adv-up-${tag}`, body: "through a relative symlink" },
  { path: "sym-file", type: "SymbolicLink", linkpath: canary.file },
  { path: "sym-file", body: "overwrite through a symlink\n" },
  { path: "hl", type: "Link", linkpath: canary.file },
  { path: "hl", body: "overwrite through an absolute hard link\n" },
  { path: "hl2", type: "Link", linkpath: `../../../../../..${canary.file}` },
  { path: "hl2", body: "overwrite through a dot-dot hard link\n" },
  { path: "suid", body: "#!/bin/sh\nid\n", mode: 0o4755 },
  { path: "dev-mem", type: "CharacterDevice" },
  { path: "fifo", type: "FIFO" },
]);

const ESCAPES = [
  `/tmp/escape-dots-${tag}`,
  `/tmp/escape-nested-${tag}`,
  `/tmp/sbx-adv-abs-${tag}`,
  `/tmp/sbx-adv-up-${tag}`,
  join(canary.dir, `through-${tag}`),
  `${work}/escape-dots-${tag}`,
  `${work}/escape-nested-${tag}`,
];

beforeAll(async () => {
  sb = await sandbox();
  await installProbe(sb);
  await sb.writeFile("/evil.tar", FORGED);
  mkdirSync(work, { recursive: true });
});

afterAll(() => {
  canary.check();
  canary.remove();
  hostPathsAbsent(ESCAPES);
  rmSync(work, { recursive: true, force: true });
});

/** Arms the probe on a fresh /dev/shm/payload; the next archive download of it is forged. */
async function armHijack(): Promise<() => Promise<string>> {
  await sb.writeFile("/dev/shm/payload", "the real file\n");
  await sb.deleteFile("/dev/shm/hj.log").catch(() => undefined);
  await sb.startProcess("sh", {
    args: ["-c", "exec /probe hijack /evil.tar /dev/shm/payload 60 > /dev/shm/hj.log 2>&1"],
  });
  await waitFor(
    async () => (await sb.readFile("/dev/shm/hj.log").catch(() => Buffer.alloc(0))).toString().includes("armed"),
    30_000,
    "the probe to arm",
  );
  return async () =>
    waitFor(
      async () => {
        const log = (await sb.readFile("/dev/shm/hj.log")).toString();
        return /injected|timeout|lease/.test(log.replace("armed", "")) ? log : "";
      },
      30_000,
      "the probe to finish",
    );
}

/** Every file under `dir`: no setuid/setgid bits, no devices or fifos, nothing that is the canary. */
function assertTame(dir: string): string[] {
  const names: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = lstatSync(p);
      names.push(p.slice(dir.length + 1));
      expect(st.mode & 0o7000, `${p} has special bits`).toBe(0);
      expect(st.isFile() || st.isDirectory() || st.isSymbolicLink(), `${p} is a device or fifo`).toBe(true);
      expect(st.isFile() && st.nlink > 1, `${p} is hard-linked`).toBe(false);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return names;
}

function sbx(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(REPO, "packages", "cli", "bin", "sbx.js"), ...args], {
    env: { ...process.env, SBX_HOST: inject("sbxHost") },
    encoding: "utf8",
    timeout: 120_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

describe("forged archives from a sandbox", () => {
  it("sbx cp into an existing directory writes nothing outside it", async () => {
    const dest = join(work, "into-dir");
    mkdirSync(dest);
    const done = await armHijack();
    const r = sbx(["cp", `${sb.id}:/dev/shm/payload`, dest]);
    expect(await done()).toContain(`injected ${FORGED.length} of ${FORGED.length}`);
    // The forged archive arrived (its payload is there) and its hostile entries were refused by name.
    expect(r.stderr).toMatch(/not copied/);
    for (const refused of [
      `escape-dots-${tag}: path contains '..'`,
      `lnk/through-${tag}: TAR_SYMLINK_ERROR`,
      "up -> ../../../../../../tmp: linkpath escapes",
      "CharacterDevice entries are not copied",
    ]) {
      expect(r.stderr).toContain(refused);
    }
    expect(r.code).not.toBe(0);
    const names = assertTame(dest);
    expect(names).toContain("payload");
    canary.check();
    hostPathsAbsent(ESCAPES);
  });

  it("sbx cp onto a new name (unpacked beside it, then renamed) writes nothing outside it", async () => {
    const done = await armHijack();
    const r = sbx(["cp", `${sb.id}:/dev/shm/payload`, join(work, "new-name")]);
    expect(await done()).toContain("injected");
    expect(r.code).not.toBe(0);
    // Nothing but what existed before is left beside the target (no temp dir, no escapes).
    expect(readdirSync(work).filter((n) => !["into-dir", "new-name", "upload"].includes(n))).toEqual([]);
    canary.check();
    hostPathsAbsent(ESCAPES);
  });

  it("sbx cp into a sandbox whose destination is a link to a host path writes into the sandbox only", async () => {
    const local = join(work, "upload");
    mkdirSync(join(local, "sub"), { recursive: true });
    writeFileSync(join(local, "sub", "file.txt"), "uploaded\n");
    // The sandbox makes both the destination dir and a would-be target file links to the host canary.
    await sb.run("sh", {
      args: ["-c", `mkdir -p /srv && ln -sfn ${canary.dir} /srv/app && ln -sfn ${canary.file} /srv/file`],
    });
    // While the links dangle in the sandbox, the copy fails cleanly.
    const dangling = sbx(["cp", local, `${sb.id}:/srv/app/`]);
    expect(dangling.code, dangling.stderr).not.toBe(0);
    canary.check();
    // Once the sandbox has that path itself, the copy lands there.
    await sb.run("sh", { args: ["-c", `mkdir -p ${canary.dir}`] });
    const into = sbx(["cp", local, `${sb.id}:/srv/app/`]);
    expect(into.code, into.stderr).toBe(0);
    const onto = sbx(["cp", join(local, "sub", "file.txt"), `${sb.id}:/srv/file`]);
    expect(onto.code, onto.stderr).toBe(0);
    expect((await sb.readFile(`${canary.dir}/upload/sub/file.txt`)).toString()).toBe("uploaded\n");
    expect((await sb.readFile("/srv/file")).toString()).toBe("uploaded\n");
    canary.check();
  });

  it("the SDK's downloadDirectory writes nothing outside its directory", async () => {
    const dest = join(work, "sdk");
    const done = await armHijack();
    const warnings: string[] = [];
    await sb.downloadDirectory("/dev/shm/payload", dest, { onWarning: (m) => warnings.push(m) }).catch(() => undefined);
    expect(await done()).toContain("injected");
    expect(warnings.length).toBeGreaterThan(0);
    assertTame(dest);
    canary.check();
    hostPathsAbsent(ESCAPES);
  });
});

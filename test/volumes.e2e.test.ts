// Volumes end to end, on real crun: a named, project-scoped ext4 disk with a size cap, mounted at
// create (CLI --volume, SDK volumes) through an idmapped bind, so the sandbox's root and users own
// its files while the disk keeps the storage range's ids. Read-write by one sandbox at a time,
// read-only by many; removable only when no sandbox (running or suspended) holds it; never in a
// snapshot; full is ENOSPC inside and nothing else; kept and re-mounted across a daemon kill -9.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { Sandbox, SandboxClient } from "@sbx-sh/sdk";
import { sharedClient, useSandboxes } from "./fixtures.js";
import { REPO, TestDaemon, testDaemonRoot } from "./harness.js";

const host = inject("sbxHost");
const client = sharedClient();
const sandbox = useSandboxes(client);
const volumesDir = join(testDaemonRoot("shared"), "data", "volumes");
const run = Date.now().toString(36);

function sbx(args: string[], h = host): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(REPO, "packages", "cli", "bin", "sbx.js"), ...args], {
    env: { ...process.env, SBX_HOST: h },
    encoding: "utf8",
    timeout: 120_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function mounted(dir: string): boolean {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .some((l) => l.split(" ")[4] === dir);
}

const sh = async (sb: Sandbox, script: string, user?: string) =>
  sb.run("sh", { args: ["-c", script], ...(user ? { user } : {}) });

describe("volumes", () => {
  const name = `data-${run}`;
  afterAll(async () => {
    for (const v of await client.listVolumes().catch(() => []))
      if (v.name.endsWith(run)) await client.deleteVolume(v.name).catch(() => undefined);
  });

  it("outlives its sandbox, is owned by each sandbox's own users, and is shared read-only by many, read-write by one", async () => {
    const created = sbx(["volume", "create", name, "--size", "64m", "--json"]);
    expect(created.code, created.stderr).toBe(0);
    const vol = JSON.parse(created.stdout) as { id: string; sizeMb: number; capacityBytes: number };
    expect(vol.sizeMb).toBe(64);
    expect(vol.capacityBytes).toBeGreaterThan(32 << 20);
    expect(vol.capacityBytes).toBeLessThanOrEqual(64 << 20);
    const disk = join(volumesDir, vol.id, "mnt");
    expect(mounted(disk)).toBe(true);

    // CLI run: root writes, then a user of the image writes a file of its own.
    const w = sbx([
      "run",
      "--volume",
      `${name}:/data`,
      "--",
      "sh",
      "-c",
      "echo first > /data/f && mkdir /data/u && chown 1000:1000 /data/u && stat -c %u /data/f",
    ]);
    expect(w.code, w.stderr).toBe(0);
    expect(w.stdout.trim()).toBe("0");
    const writer = await sandbox({ volumes: [{ name, path: "/data" }] });
    expect((await sh(writer, "cat /data/f")).stdout).toBe("first\n");
    const u = await sh(writer, "echo mine > /data/u/g && stat -c %u:%g /data/u/g", "1000:1000");
    expect(u.stdout.trim()).toBe("1000:1000");
    // On disk the files are in the storage range (the disk root's owner is its base), not the sandbox's.
    const base = statSync(disk).uid;
    expect(base).toBeGreaterThan(0);
    expect(statSync(join(disk, "u", "g")).uid).toBe(base + 1000);
    expect((await writer.info()).volumes).toEqual([{ name, path: "/data", readOnly: false }]);

    // A second writer is refused and nothing is created; readers share it and see the writer's changes live.
    const before = (await client.list()).length;
    await expect(sandbox({ volumes: [{ name, path: "/data" }] })).rejects.toMatchObject({ code: "volume_in_use" });
    expect((await client.list()).length).toBe(before);
    const cliTwice = sbx(["new", "--volume", `${name}:/data`]);
    expect(cliTwice.code).not.toBe(0);
    expect(cliTwice.stderr).toMatch(/read-write by sandbox/);
    const r1 = await sandbox({ volumes: [{ name, path: "/mnt/ro", readOnly: true }] });
    const r2 = await sandbox({ volumes: [{ name, path: "/ro", readOnly: true }] });
    await sh(writer, "echo live > /data/f");
    expect((await sh(r1, "cat /mnt/ro/f")).stdout).toBe("live\n");
    const ro = await sh(r2, "echo x > /ro/f");
    expect(ro.exitCode).not.toBe(0);
    expect(ro.stderr).toMatch(/Read-only file system/);

    // ls shows usage and holders; rm is refused while any sandbox holds it.
    const ls = JSON.parse(sbx(["volume", "ls", "--json"]).stdout) as Array<{
      name: string;
      usedBytes: number;
      mountedBy: Array<{ sandboxId: string; readOnly: boolean }>;
    }>;
    const mine = ls.find((v) => v.name === name)!;
    expect(mine.usedBytes).toBeGreaterThan(0);
    expect(mine.mountedBy.map((m) => [m.sandboxId, m.readOnly]).sort()).toEqual(
      [
        [writer.id, false],
        [r1.id, true],
        [r2.id, true],
      ].sort(),
    );
    expect(sbx(["volume", "ls", "-q"]).stdout.split("\n")).toContain(name);
    const busy = sbx(["volume", "rm", name]);
    expect(busy.code).not.toBe(0);
    expect(busy.stderr).toMatch(/volume_in_use|is mounted by/);
    await Promise.all([writer.terminate(), r1.terminate(), r2.terminate()]);

    // Outlives them: a new sandbox reads what the old ones wrote.
    const later = await sandbox({ volumes: [{ name, path: "/data", readOnly: true }] });
    expect((await sh(later, "cat /data/f /data/u/g")).stdout).toBe("live\nmine\n");
    await later.terminate();
    const rm = sbx(["volume", "rm", name]);
    expect(rm.code, rm.stderr).toBe(0);
    expect(mounted(disk)).toBe(false);
    expect(existsSync(join(volumesDir, vol.id))).toBe(false);
  });

  it("is full at its cap: ENOSPC inside, the sandbox and the daemon carry on", async () => {
    const small = `small-${run}`;
    await client.createVolume(small, { sizeMb: 16 });
    const sb = await sandbox({ volumes: [{ name: small, path: "/v" }] });
    const fill = await sh(sb, "dd if=/dev/zero of=/v/big bs=1M count=64 2>&1; echo rc=$?");
    expect(fill.stdout).toMatch(/No space left on device/);
    expect(fill.stdout).not.toMatch(/rc=0/);
    expect((await sh(sb, "echo alive > /tmp/ok && cat /tmp/ok")).stdout).toBe("alive\n");
    const v = await client.getVolume(small);
    expect(v.usedBytes).toBeGreaterThan(v.capacityBytes * 0.9);
    expect((await client.info()).version).toBeTruthy();
    await sb.terminate();
    await client.deleteVolume(small);
  });

  it("is in no snapshot; copies mount the read-only ones again and a read-write one cannot be copied; suspend keeps it", async () => {
    const keep = `keep-${run}`;
    await client.createVolume(keep, { sizeMb: 16 });
    const src = await sandbox({ name: `vol-src-${run}`, volumes: [{ name: keep, path: "/data" }] });
    await sh(src, "echo in-volume > /data/f && echo in-layer > /root/f");
    // Snapshot: the layer has /root/f, not the volume's file.
    const snap = await client.transport.json<{ id: string }>("POST", `/v1/sandboxes/${src.id}/snapshot`);
    const fromSnap = await sandbox({ snapshotId: snap.id });
    expect((await sh(fromSnap, "cat /root/f; ls -A /data 2>/dev/null | wc -l")).stdout).toBe("in-layer\n0\n");
    await client.deleteSnapshot(snap.id).catch(() => undefined);
    // A read-write holder cannot be copied.
    await expect(
      client.transport.json("POST", `/v1/sandboxes/${src.id}/copy`, { json: { times: 1 } }),
    ).rejects.toMatchObject({ code: "volume_in_use" });
    // Suspended, it still holds the volume; resumed, it mounts it again.
    await client.transport.json("POST", `/v1/sandboxes/${src.id}/suspend`);
    await expect(client.deleteVolume(keep)).rejects.toMatchObject({ code: "volume_in_use" });
    await client.transport.json("POST", `/v1/sandboxes/${src.id}/resume`);
    expect((await sh(src, "cat /data/f /root/f")).stdout).toBe("in-volume\nin-layer\n");
    await src.terminate();
    // A read-only holder's copies get the volume read-only.
    const reader = await sandbox({ volumes: [{ name: keep, path: "/data", readOnly: true }] });
    const copies = await client.transport.json<{ sandboxes: Array<{ id: string; volumes: unknown }> }>(
      "POST",
      `/v1/sandboxes/${reader.id}/copy`,
      { json: { times: 1 } },
    );
    const copy = await Sandbox.connect(copies.sandboxes[0]!.id, client);
    try {
      expect(copies.sandboxes[0]!.volumes).toEqual([{ name: keep, path: "/data", readOnly: true }]);
      expect((await sh(copy, "cat /data/f")).stdout).toBe("in-volume\n");
    } finally {
      await copy.terminate();
      await reader.terminate();
    }
    await client.deleteVolume(keep);
  });

  it("refuses bad names, sizes, paths and unknown volumes with coded errors, creating nothing", async () => {
    const ok = `ok-${run}`;
    await client.createVolume(ok, { sizeMb: 16 });
    await expect(client.createVolume(ok, { sizeMb: 16 })).rejects.toMatchObject({ code: "already_exists" });
    await expect(client.createVolume("Bad Name!")).rejects.toMatchObject({ code: "invalid_name" });
    await expect(client.createVolume(`tiny-${run}`, { sizeMb: 1 })).rejects.toMatchObject({
      code: expect.stringMatching(/invalid_argument|out_of_range/),
    });
    const before = (await client.list()).length;
    for (const [path, code] of [
      ["data", "invalid_path"],
      ["/", "invalid_path"],
      ["/proc/x", "invalid_path"],
      ["/.sbx", "invalid_path"],
      ["/a/../b", "invalid_path"],
    ] as const)
      await expect(sandbox({ volumes: [{ name: ok, path }] }), path).rejects.toMatchObject({ code });
    await expect(sandbox({ volumes: [{ name: `nope-${run}`, path: "/d" }] })).rejects.toMatchObject({
      code: "volume_not_found",
    });
    await expect(
      sandbox({
        volumes: [
          { name: ok, path: "/d", readOnly: true },
          { name: ok, path: "/e", readOnly: true },
        ],
      }),
    ).rejects.toMatchObject({ code: "invalid_argument" });
    expect((await client.list()).length).toBe(before);
    const badFlag = sbx(["new", "--volume", `${ok}:relative`]);
    expect(badFlag.code).not.toBe(0);
    expect(badFlag.stderr).toMatch(/NAME:\/path/);
    expect(sbx(["volume", "create", `x-${run}`, "--size", "lots"]).stderr).toMatch(/expected a size/);
    // Another project does not see it.
    const other = `volp-${run}`;
    await client.createProject(other);
    const otherClient = new SandboxClient({ host, project: other });
    await expect(otherClient.getVolume(ok)).rejects.toMatchObject({ code: "volume_not_found" });
    await client.deleteProject(other);
    await client.deleteVolume(ok);
    await expect(client.deleteVolume(ok)).rejects.toMatchObject({ code: "volume_not_found" });
  });
});

describe("volumes across a daemon kill -9", () => {
  const daemon = new TestDaemon({ name: "volumes", netIndex: 1, extraArgs: ["--warm-pool", "0"] });
  let c: SandboxClient;
  beforeAll(async () => {
    await daemon.reset();
    await daemon.start();
    c = new SandboxClient({ host: daemon.host });
  });
  afterAll(async () => {
    for (const s of await c.list().catch(() => [])) await c.terminate(s.id).catch(() => undefined);
    for (const v of await c.listVolumes().catch(() => [])) await c.deleteVolume(v.name).catch(() => undefined);
    await daemon.stop();
  });

  it("keeps volumes and their holders, and mounts a disk a reboot unmounted again", async () => {
    const v = await c.createVolume("persist", { sizeMb: 16 });
    const gone = await c.createVolume("gone", { sizeMb: 16 });
    const sb = await Sandbox.create({ allowInternetAccess: false, volumes: [{ name: "persist", path: "/p" }] }, c);
    await sh(sb, "echo before > /p/f");
    const disk = join(daemon.root, "data", "volumes", v.id, "mnt");
    const goneDir = join(daemon.root, "data", "volumes", gone.id);
    await daemon.stop("SIGKILL");
    // What a reboot does to the other volume's mount (no sandbox holds it).
    expect(spawnSync("umount", [join(goneDir, "mnt")]).status).toBe(0);
    await daemon.start();
    expect(mounted(join(goneDir, "mnt"))).toBe(true);
    expect(mounted(disk)).toBe(true);
    // The sandbox kept running with its volume, and still holds it read-write.
    expect((await sh(sb, "cat /p/f && echo after >> /p/f && cat /p/f")).stdout).toBe("before\nbefore\nafter\n");
    await expect(
      Sandbox.create({ allowInternetAccess: false, volumes: [{ name: "persist", path: "/p" }] }, c),
    ).rejects.toMatchObject({ code: "volume_in_use" });
    await expect(c.deleteVolume("persist")).rejects.toMatchObject({ code: "volume_in_use" });
    await sb.terminate();
    // Unmounted under a running daemon: a create mounts the disk again, never the bare dir below it.
    expect(spawnSync("umount", [join(goneDir, "mnt")]).status).toBe(0);
    const g = await Sandbox.create({ allowInternetAccess: false, volumes: [{ name: "gone", path: "/g" }] }, c);
    await sh(g, "echo on-disk > /g/f");
    expect(mounted(join(goneDir, "mnt"))).toBe(true);
    expect(readFileSync(join(goneDir, "mnt", "f"), "utf8")).toBe("on-disk\n");
    await g.terminate();
    await c.deleteVolume("persist");
    await c.deleteVolume("gone");
    expect(existsSync(join(daemon.root, "data", "volumes", v.id))).toBe(false);
  });
});

// File operations through sbx-agent (protocol version 2) in real sandboxes: paths resolve in the
// sandbox's own root (symlinks, `..`), a looping symlink and a write bigger than the disk are coded
// errors after which the sandbox keeps working, and an upgraded daemon that meets a version-1 agent
// (a sandbox started before the upgrade) falls back to busybox via crun exec for that sandbox only.
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Sandbox, SandboxClient, SbxError } from "@sbx-sh/sdk";
import { useSandboxes } from "./fixtures.js";
import { REPO, TestDaemon } from "./harness.js";

const sandbox = useSandboxes();

async function errorOf(p: Promise<unknown>): Promise<SbxError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof SbxError) return err;
    throw err;
  }
  throw new Error("expected an error");
}

describe("files through sbx-agent", () => {
  it("resolve symlinks and .. in the sandbox's root; a symlink loop is invalid_path", async () => {
    const sb = await sandbox();
    await sb.run("sh", {
      args: [
        "-c",
        "mkdir -p /data && ln -s /data /tmp/to-data && ln -s ../../../../../etc /tmp/up && ln -s loop /tmp/loop",
      ],
    });
    // Parents are made through the link, inside the sandbox.
    await sb.writeFile("/tmp/to-data/new/deep/f.txt", "through a link");
    expect((await sb.run("cat", { args: ["/data/new/deep/f.txt"] })).stdout).toBe("through a link");
    // `..` past the root stops at the sandbox's root: this is the sandbox's hostname, not the host's.
    const own = (await sb.run("cat", { args: ["/etc/hostname"] })).stdout;
    expect((await sb.readFile("/tmp/up/hostname")).toString()).toBe(own);
    expect((await sb.listDirectory("/tmp/up/../data/new")).entries.map((e) => e.name)).toEqual(["deep"]);

    for (const call of [
      () => sb.readFile("/tmp/loop/x"),
      () => sb.writeFile("/tmp/loop/x", "y"),
      () => sb.listDirectory("/tmp/loop"),
      () => sb.readFile("/tmp/loop"),
    ]) {
      const err = await errorOf(call());
      expect(err.code).toBe("invalid_path");
      expect(err.message).toContain("symbolic link loop");
    }
    await sb.deleteFile("/tmp/loop"); // the link itself can go
    await sb.deleteFile("/tmp/to-data/new", { recursive: true });
    expect((await sb.run("ls", { args: ["-A", "/data"] })).stdout).toBe("");
    expect((await sb.run("echo", { args: ["still fine"] })).stdout).toBe("still fine\n");
  });

  it("a read of a file that says 0 bytes and never ends (/proc/self/pagemap, or a link to it) stops at the cap", async () => {
    const sb = await sandbox();
    // A sandbox can plant this for a user who reads what looks like a report.
    await sb.run("ln", { args: ["-s", "/proc/self/pagemap", "/tmp/report.txt"] });
    for (const path of ["/proc/self/pagemap", "/tmp/report.txt"]) {
      // The daemon streams it with no size announced and stops at 256 MiB: the answer breaks off there.
      const err = await errorOf(sb.readFile(path));
      expect(err.code, path).toBe("runtime_error");
      expect(err.message, path).toMatch(/broke off after \d+ bytes/);
    }
    // No reader is left behind in the sandbox, still writing for the daemon to take in.
    const left = await sb.run("sh", {
      args: ["-c", "cat /proc/[0-9]*/cmdline | tr '\\0' ' ' | grep -c '[f]ile stream' || true"],
    });
    expect(left.stdout.trim()).toBe("0");
  });

  it("a 1 GiB write to a 256 MiB disk is no_space, keeps nothing, and the sandbox keeps working", async () => {
    const sb = await sandbox({ diskMb: 256 });
    const err = await errorOf(sb.writeFile("/big.bin", Buffer.alloc(1024 * 1024 * 1024, 1)));
    expect(err.code).toBe("no_space");
    expect((await sb.run("sh", { args: ["-c", "test -e /big.bin && echo kept || echo gone"] })).stdout).toBe("gone\n");
    await sb.writeFile("/after.txt", "fits");
    expect((await sb.readFile("/after.txt")).toString()).toBe("fits");
  });

  it("an archive that does not fit is no_space (never a 500), says what stays, and the sandbox keeps working", async () => {
    const sb = await sandbox({ diskMb: 256 });
    const dir = await mkdtemp(join(tmpdir(), "sbx-unpack-"));
    try {
      // A sparse 400 MiB file: the tar carries all of it, the host's disk holds none of it.
      execFileSync("truncate", ["-s", "400M", join(dir, "big.bin")]);
      const err = await errorOf(sb.uploadDirectory(dir, "/up"));
      expect(err.code).toBe("no_space");
      expect(err.message).toMatch(/filled the sandbox's disk.*unpacked before it stay/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    await sb.run("rm", { args: ["-rf", "/up"] });
    await sb.writeFile("/after.txt", "fits");
    expect((await sb.readFile("/after.txt")).toString()).toBe("fits");
  });
});

describe("an upgraded daemon and a sandbox with a version-1 agent", () => {
  const daemon = new TestDaemon({ name: "agent-v1", netIndex: 4, extraArgs: ["--warm-pool", "0"] });
  let client: SandboxClient;
  let work: string;
  beforeAll(async () => {
    await daemon.reset();
    // The same agent built to speak only version 1: what a sandbox started before the upgrade runs.
    work = await mkdtemp(join(tmpdir(), "sbx-agent-v1-"));
    const v1 = join(work, "sbx-agent-v1");
    const src = join(REPO, "packages", "daemon", "agent", "sbx-agent.c");
    execFileSync("musl-gcc", ["-static", "-Os", "-DPROTO_MAX=1", "-o", v1, src]);
    daemon.env.SBX_AGENT = v1;
    await daemon.start();
    client = new SandboxClient({ host: daemon.host });
  });
  afterAll(async () => {
    for (const s of await client.list().catch(() => [])) await client.terminate(s.id).catch(() => undefined);
    await daemon.stop();
    await rm(work, { recursive: true, force: true });
  });

  it("falls back to busybox for the old sandbox and uses the agent for new ones", async () => {
    const old = await Sandbox.create({ allowInternetAccess: false }, client);
    // The upgrade: the daemon restarts with the current agent; the running sandbox keeps its own.
    await daemon.stop("SIGKILL");
    delete daemon.env.SBX_AGENT;
    await daemon.start();
    const fresh = await Sandbox.create({ allowInternetAccess: false }, client);

    for (const sb of [old, fresh]) {
      await sb.writeFile("/w/a/b.txt", "round trip");
      expect((await sb.readFile("/w/a/b.txt")).toString()).toBe("round trip");
      expect((await sb.listDirectory("/w/a")).entries.map((e) => e.name)).toEqual(["b.txt"]);
      const local = join(work, sb.id);
      mkdirSync(local);
      await sb.downloadDirectory("/w", local);
      expect(await readFile(join(local, "a", "b.txt"), "utf8")).toBe("round trip");
      await writeFile(join(local, "up.txt"), "uploaded");
      await sb.uploadDirectory(local, "/up");
      expect((await sb.run("cat", { args: ["/up/up.txt"] })).stdout).toBe("uploaded");
      await sb.deleteFile("/w", { recursive: true });
      await sb.run("ln", { args: ["-s", "loop", "/loop"] });
    }
    // Which path served each shows in how a loop is reported: busybox's `[ -e ]` sees nothing there.
    expect((await errorOf(old.readFile("/loop/x"))).code).toBe("file_not_found");
    expect((await errorOf(fresh.readFile("/loop/x"))).code).toBe("invalid_path");
    expect((await old.run("cat", { args: ["/proc/1/cmdline"] })).stdout.split("\0")[0]).toBe("/.sbx/agent");
  });
});

// Isolation as untrusted code sees it: user namespace, capabilities, seccomp, no_new_privs,
// masked /proc, and host files that stay out of reach through symlinks, `..` and tar entries.
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { Header } from "tar";
import type { Sandbox } from "@sbx-sh/sdk";
import { useSandbox, useSandboxes } from "./fixtures.js";

const current = useSandbox();
const another = useSandboxes();
let sb: Sandbox;
beforeAll(() => {
  sb = current();
});

async function sh(script: string): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  return sb.run("sh", { args: ["-c", script] });
}

describe("isolation", () => {
  it("runs as root inside a user namespace that is not root outside", async () => {
    const r = await sh("id -u; cat /proc/self/uid_map");
    const [uid, map] = r.stdout.trim().split("\n");
    expect(uid).toBe("0");
    // Each sandbox has its own 65,536-id range (issue 18): root inside is some host id at or above
    // the daemon's uid base, never host root, and a second sandbox's range does not overlap it.
    const [inside, outside, count] = map!.trim().split(/\s+/).map(Number);
    expect([inside, count]).toEqual([0, 65536]);
    expect(outside).toBeGreaterThanOrEqual(100000);
    const other = await another();
    const otherMap = (await other.run("cat", { args: ["/proc/self/uid_map"] })).stdout.trim().split(/\s+/).map(Number);
    expect([otherMap[0], otherMap[2]]).toEqual([0, 65536]);
    expect(otherMap[1]).toBeGreaterThanOrEqual(100000);
    expect(Math.abs(otherMap[1]! - outside!)).toBeGreaterThanOrEqual(65536);
  });

  it("has Docker's capability set, no_new_privs and a seccomp filter", async () => {
    const status = (await sh("cat /proc/self/status")).stdout;
    expect(/CapEff:\s+([0-9a-f]+)/.exec(status)?.[1]).toBe("00000000a80425fb");
    expect(/NoNewPrivs:\s+(\d)/.exec(status)?.[1]).toBe("1");
    expect(/Seccomp:\s+(\d)/.exec(status)?.[1]).toBe("2");
  });

  it("cannot create user namespaces, mount, or load kernel modules", async () => {
    expect((await sh("unshare -U true 2>&1; echo rc=$?")).stdout).toMatch(/rc=[1-9]/);
    expect((await sh("mount -t tmpfs none /mnt 2>&1; echo rc=$?")).stdout).toMatch(/rc=[1-9]/);
    expect((await sh("echo 1 > /proc/sys/kernel/sysrq 2>&1; echo rc=$?")).stdout).toMatch(/rc=[1-9]/);
    expect((await sh("cat /proc/kcore 2>/dev/null | head -c 10 | wc -c")).stdout.trim()).toBe("0");
  });

  it("sees only its own processes", async () => {
    const ps = (await sh("ls /proc | grep -E '^[0-9]+$' | wc -l")).stdout.trim();
    expect(Number(ps)).toBeLessThan(10);
    expect((await sh("cat /proc/1/cmdline | tr '\\0' ' '")).stdout).toContain("/.sbx/agent");
  });

  it("resolves a symlink to /etc/shadow to the sandbox's file, never the host's", async () => {
    await sh("ln -s /etc/shadow /tmp/evil && ln -s ../../../../../../etc/shadow /tmp/evil2");
    const viaLink = await sb.readFile("/tmp/evil");
    const viaDots = await sb.readFile("/tmp/evil2");
    const own = await sb.readFile("/etc/shadow");
    expect(viaLink.equals(own)).toBe(true);
    expect(viaDots.equals(own)).toBe(true);
    const host = readFileSync("/etc/shadow");
    expect(createHash("sha256").update(viaLink).digest("hex")).not.toBe(
      createHash("sha256").update(host).digest("hex"),
    );
  });

  it("writes through sandbox symlinks and dot-dot paths only into the sandbox", async () => {
    const marker = `/tmp/sbx-host-marker-${process.pid}`;
    await sh(`ln -s ${marker} /tmp/to-host`);
    await sb.writeFile("/tmp/to-host", "pwned");
    await sb.writeFile(`/../../../..${marker}-2`, "pwned");
    expect(existsSync(marker)).toBe(false);
    expect(existsSync(`${marker}-2`)).toBe(false);
    expect((await sb.readFile(marker)).toString()).toBe("pwned");
  });

  it("unpacks hostile tar entries inside the sandbox only", async () => {
    const tag = `${process.pid}-${Date.now()}`;
    const shadowBefore = readFileSync("/etc/shadow");
    const archive = rawTar([
      { path: "ok.txt", body: "fine" },
      { path: `../../../../../../tmp/sbx-escape-${tag}`, body: "dots" },
      { path: `/tmp/sbx-abs-${tag}`, body: "absolute" },
      { path: "link", type: "SymbolicLink", linkpath: "/tmp" },
      { path: `link/sbx-through-${tag}`, body: "through a symlink" },
      { path: "hl", type: "Link", linkpath: "/etc/shadow" },
    ]);
    await sb.uploadArchive("/up", archive).catch(() => undefined);
    expect((await sb.readFile("/up/ok.txt")).toString()).toBe("fine");
    for (const name of [`sbx-escape-${tag}`, `sbx-abs-${tag}`, `sbx-through-${tag}`])
      expect(existsSync(`/tmp/${name}`)).toBe(false);
    expect(readFileSync("/etc/shadow").equals(shadowBefore)).toBe(true);
  });

  it("rejects an upload that is not a tar and changes nothing", async () => {
    await expect(
      sb.uploadArchive("/not-created", Buffer.from("this is not a tar archive at all".repeat(40))),
    ).rejects.toMatchObject({ code: "invalid_archive" });
    await expect(sb.listDirectory("/not-created")).rejects.toMatchObject({ code: "file_not_found" });
  });
});

interface RawEntry {
  path: string;
  body?: string;
  type?: "File" | "SymbolicLink" | "Link";
  linkpath?: string;
}

/** A tar with exactly the names given: no sanitising, as an attacker would write it. */
function rawTar(entries: RawEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const body = Buffer.from(e.body ?? "");
    const h = new Header({
      path: e.path,
      type: e.type ?? "File",
      linkpath: e.linkpath,
      size: body.length,
      mode: 0o644,
      uid: 0,
      gid: 0,
      mtime: new Date(0),
    });
    h.encode();
    blocks.push(h.block!, body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

// Path attacks on every file API, from inside a real sandbox: symlinks (absolute, relative, chains,
// symlinked parent dirs, swapped between and during calls), `..`, absolute names and hard links
// against read, write, list, delete, archive upload and download. The host canary (a directory
// with a file of known content and mtime) and a second sandbox's files must never change, and
// nothing may appear on the host. isolation.e2e.test.ts covers the single-link and basic tar cases.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Sandbox } from "@sbx-sh/sdk";
import { useSandboxes } from "../fixtures.js";
import { HostCanary, hostPathsAbsent, rawTar, sh } from "./kit.js";

const sandbox = useSandboxes();
let sb: Sandbox;
let other: Sandbox;
const canary = new HostCanary("paths");
const tag = `${process.pid}-${Date.now()}`;
const hostPasswd = readFileSync("/etc/passwd");
let otherPasswd: Buffer;

beforeAll(async () => {
  [sb, other] = await Promise.all([sandbox(), sandbox()]);
  await other.writeFile("/victim/secret.txt", `victim ${tag}`);
  otherPasswd = await other.readFile("/etc/passwd");
  // Links that lead to the host canary's path, as the host names it, in every shape.
  const c = canary.dir;
  await sh(
    sb,
    [
      `ln -s ${canary.file} /tmp/abs`,
      `ln -s ../../../../../../../..${canary.file} /tmp/rel`,
      "ln -s /tmp/chain2 /tmp/chain1 && ln -s ../tmp/chain3 /tmp/chain2 && ln -s /tmp/abs /tmp/chain3",
      `ln -s ${c} /tmp/pdir`,
      `ln -s ../../../../..${c} /tmp/pdir-rel`,
      "ln -s /proc/1/root /tmp/init-root",
    ].join(" && "),
  );
});

afterAll(async () => {
  canary.check();
  canary.remove();
  expect(readFileSync("/etc/passwd").equals(hostPasswd)).toBe(true);
  expect((await other.readFile("/victim/secret.txt")).toString()).toBe(`victim ${tag}`);
  expect((await other.readFile("/etc/passwd")).equals(otherPasswd)).toBe(true);
});

const LINKS = [
  "/tmp/abs",
  "/tmp/rel",
  "/tmp/chain1",
  "/tmp/pdir/canary.txt",
  "/tmp/pdir-rel/canary.txt",
  "/tmp/init-root" + "/tmp/abs",
];
const DOTS = [
  `/tmp/../../../..${canary.file}`,
  `/..${canary.file}`,
  `/proc/self/root${canary.file}`,
  `/proc/1/cwd/../../..${canary.file}`,
];

describe("path attacks on the file APIs", () => {
  it("read never returns the host's file through links, chains, linked parents or dot-dots", async () => {
    for (const p of [...LINKS, ...DOTS])
      // PID 1 is the non-dumpable sbx-agent: /proc/1/{cwd,root} may be closed to the sandbox's root
      // (the kernel's EACCES is a 400 invalid_path).
      await expect(sb.readFile(p), p).rejects.toMatchObject(
        p.startsWith("/proc/1/") || p.startsWith("/tmp/init-root/")
          ? { code: expect.stringMatching(/^(file_not_found|invalid_path)$/) }
          : { code: "file_not_found" },
      );
    await expect(sb.listDirectory("/tmp/pdir"), "list through a linked dir").rejects.toMatchObject({
      code: "file_not_found",
    });
    await expect(sb.listDirectory(`/tmp/pdir-rel/../../../..${canary.dir}`)).rejects.toMatchObject({
      code: "file_not_found",
    });
    await expect(sb.downloadArchive(`/tmp/pdir/canary.txt`)).rejects.toMatchObject({ code: "file_not_found" });
  });

  it("write through every link shape lands in the sandbox, never on the host", async () => {
    // The first dot-dot write creates the host path's directories, inside the sandbox.
    for (const [i, p] of [...DOTS, ...LINKS].entries()) {
      const write = sb.writeFile(p, `pwned ${i}`);
      // PID 1 is the non-dumpable sbx-agent, so /proc/1/{cwd,root} are closed to the sandbox's own
      // root: a write through them may be refused (a coded error) instead of landing inside.
      if (p.startsWith("/proc/1/") || p.startsWith("/tmp/init-root/"))
        await write.catch((err: unknown) =>
          expect(err, p).toMatchObject({ code: "runtime_error", message: expect.stringMatching(/Permission denied/) }),
        );
      else await write;
    }
    await sb.writeFile(`/tmp/pdir/new-${tag}`, "new file through a linked parent");
    await sb.writeFile(`/tmp/pdir-rel/sub/deeper-${tag}`, "and its parents");
    canary.check();
    // All of it is in the sandbox, at the path the sandbox resolves to.
    const inside = await sb.listDirectory(canary.dir);
    expect(inside.entries.map((e) => e.name).sort()).toEqual(["canary.txt", `new-${tag}`, "sub"]);
    expect((await sb.readFile("/tmp/abs")).toString()).toMatch(/^pwned \d+$/);
    expect((await sb.readFile(`${canary.dir}/sub/deeper-${tag}`)).toString()).toBe("and its parents");
  });

  it("list and download through a linked dir show the sandbox's copy only", async () => {
    const viaLink = await sb.listDirectory("/tmp/pdir/");
    expect(viaLink.entries.map((e) => e.name)).toContain(`new-${tag}`);
    const archive = await sb.downloadArchive("/tmp/pdir/canary.txt");
    const chunks: Buffer[] = [];
    for await (const c of archive) chunks.push(c as Buffer);
    const tar = Buffer.concat(chunks);
    expect(tar.includes(canary.content)).toBe(false);
    expect(tar.toString("latin1")).toMatch(/pwned \d+/);
  });

  it("delete through a link removes the link or the sandbox's copy, never the host's", async () => {
    await sb.deleteFile("/tmp/chain1");
    await expect(sb.readFile("/tmp/chain1")).rejects.toMatchObject({ code: "file_not_found" });
    expect((await sb.readFile("/tmp/chain2")).toString()).toMatch(/^pwned/); // only the first link went
    await sb.deleteFile(`/tmp/pdir/canary.txt`);
    // Through a link with a trailing slash: the sandbox's copy goes, or the call is refused as a path error.
    await sb
      .deleteFile(`/tmp/pdir-rel/`, { recursive: true })
      .catch((err: unknown) => expect(err).toMatchObject({ code: "invalid_path" }));
    await sb.deleteFile(`/tmp/../..${canary.dir}`, { recursive: true }).catch(() => undefined);
    await expect(sb.listDirectory(canary.dir)).rejects.toMatchObject({ code: "file_not_found" });
    canary.check();
  });

  it("hard links reach only the sandbox's own files, and writing through one never changes a shared layer", async () => {
    // The sandbox can hard-link only what its own filesystem holds; the image's /etc/passwd is in a
    // lower layer shared with every other sandbox of the image.
    const r = await sh(
      sb,
      "ln /etc/passwd /tmp/hl-passwd && ln /.sbx/busybox /tmp/hl-bb 2>&1; ln /proc/1/exe /tmp/hl-init 2>&1; echo done",
    );
    expect(r.stdout).toMatch(/busybox.*(Invalid cross-device link|Operation not permitted)/);
    expect(r.stdout).toMatch(/exe.*(Invalid cross-device link|Operation not permitted|No such)/);
    await sb.writeFile("/tmp/hl-passwd", "rewritten through a hard link\n");
    expect((await sb.readFile("/tmp/hl-passwd")).toString()).toBe("rewritten through a hard link\n");
    // Upload a hard link entry to the image's /etc/group, then overwrite it in the same archive.
    // busybox tar refuses a hard link to an absolute name; whatever it does, only the sandbox changes.
    await sb
      .uploadArchive(
        "/tmp/up-hl",
        rawTar([
          { path: "g", type: "Link", linkpath: "/etc/group" },
          { path: "g", body: "through an uploaded hard link\n" },
        ]),
      )
      .catch(() => undefined);
    expect((await other.readFile("/etc/passwd")).equals(otherPasswd)).toBe(true);
    expect((await other.readFile("/etc/group")).toString()).not.toContain("through an uploaded hard link");
    expect(readFileSync("/etc/group", "utf8")).not.toContain("through an uploaded hard link");
  });

  it("a symlink swapped for a directory between and during calls never leads out", async () => {
    // A loop inside the sandbox flips /tmp/flip between a real dir and a link to the host's path.
    await sh(sb, `mkdir -p /tmp/flip-real && echo sandbox > /tmp/flip-real/canary.txt`);
    const flipper = await sb.startProcess("sh", {
      args: [
        "-c",
        `end=$(($(date +%s)+8)); while [ $(date +%s) -lt $end ]; do ln -sfn ${canary.dir} /tmp/flip; rm -f /tmp/flip; ln -sfn /tmp/flip-real /tmp/flip; rm -f /tmp/flip; mkdir -p /tmp/flip; rmdir /tmp/flip; done`,
      ],
    });
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const ops = await Promise.allSettled([
        sb.readFile("/tmp/flip/canary.txt"),
        sb.writeFile(`/tmp/flip/w-${tag}`, "written during the race"),
        sb.listDirectory("/tmp/flip"),
        sb.downloadArchive("/tmp/flip").then(async (s) => {
          const chunks: Buffer[] = [];
          for await (const c of s) chunks.push(c as Buffer);
          return Buffer.concat(chunks);
        }),
      ]);
      const read = ops[0];
      if (read.status === "fulfilled") seen.add(read.value.toString());
      const tarball = ops[3];
      if (tarball.status === "fulfilled") expect(tarball.value.includes(canary.content)).toBe(false);
    }
    await flipper.kill().catch(() => undefined);
    for (const s of seen) expect(s).not.toBe(canary.content);
    canary.check();
  });

  it("hostile upload archives stay inside the sandbox: link chains, dir entries with .., devices, setuid", async () => {
    const archive = rawTar([
      { path: "a", type: "SymbolicLink", linkpath: "b" },
      { path: "b", type: "SymbolicLink", linkpath: canary.dir },
      { path: "a/through-chain.txt", body: "through a chain" },
      { path: "../../../../../../tmp/", type: "Directory" },
      { path: `../../../../../../${canary.dir.slice(1)}/dots.txt`, body: "dots" },
      { path: `${canary.dir}/abs.txt`, body: "absolute" },
      { path: "./x/../../../../../..", type: "Directory" },
      { path: "dev-mem", type: "CharacterDevice" },
      { path: "suid", body: "#!/bin/sh\nid\n", mode: 0o4755 },
      { path: "hl-out", type: "Link", linkpath: `../../../../..${canary.file}` },
    ]);
    await sb.uploadArchive("/tmp/hostile", archive).catch(() => undefined);
    canary.check();
    hostPathsAbsent([`/tmp/dots.txt`, `/tmp/abs.txt`, `/tmp/through-chain.txt`]);
    // No device node was made: the kernel refuses mknod in the sandbox's user namespace.
    expect((await sh(sb, "[ -c /tmp/hostile/dev-mem ] && echo DEVICE; echo checked")).stdout).toBe("checked\n");
  });
});

// Files through the real daemon: read/write/list/delete, directory upload and download, and the
// errors for paths that do not exist or are not absolute.
import { mkdtemp, mkdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import type { Sandbox } from "@sbx-sh/sdk";
import { useSandbox } from "./fixtures.js";

const current = useSandbox();
let sb: Sandbox;
beforeAll(() => {
  sb = current();
});

describe("files", () => {
  it("writes (creating parents) and reads back binary content", async () => {
    const data = Buffer.from(Array.from({ length: 70_000 }, (_, i) => i % 256));
    await sb.writeFile("/work/deep/nested/data.bin", data);
    expect((await sb.readFile("/work/deep/nested/data.bin")).equals(data)).toBe(true);
    const r = await sb.run("sha256sum", { args: ["/work/deep/nested/data.bin"] });
    const { createHash } = await import("node:crypto");
    expect(r.stdout.split(" ")[0]).toBe(createHash("sha256").update(data).digest("hex"));
  });

  it("lists a directory with types and sizes, and deletes", async () => {
    await sb.writeFile("/listing/a.txt", "aaa");
    await sb.run("sh", { args: ["-c", "mkdir -p /listing/sub && ln -s a.txt /listing/link"] });
    const { entries } = await sb.listDirectory("/listing");
    expect(entries.map((e) => [e.name, e.type])).toEqual([
      ["a.txt", "file"],
      ["link", "symlink"],
      ["sub", "directory"],
    ]);
    expect(entries[0]!.size).toBe(3);
    await sb.deleteFile("/listing/a.txt");
    await expect(sb.deleteFile("/listing/sub")).rejects.toMatchObject({ code: "invalid_path" });
    await sb.deleteFile("/listing/sub", { recursive: true });
    expect((await sb.listDirectory("/listing")).entries.map((e) => e.name)).toEqual(["link"]);
  });

  it("answers missing and bad paths with clear errors", async () => {
    await expect(sb.readFile("/no/such/file")).rejects.toMatchObject({ code: "file_not_found" });
    await expect(sb.readFile("relative/path")).rejects.toMatchObject({ code: "invalid_path" });
    await expect(sb.readFile("/etc")).rejects.toMatchObject({ code: "invalid_path" });
    await expect(sb.listDirectory("/etc/hostname")).rejects.toMatchObject({ code: "invalid_path" });
    await expect(sb.deleteFile("/")).rejects.toMatchObject({ code: "invalid_path" });
    await expect(sb.downloadArchive("/no/such/dir")).rejects.toMatchObject({ code: "file_not_found" });
    // Endless or huge content never lands in the daemon's memory.
    await expect(sb.readFile("/dev/zero")).rejects.toMatchObject({ code: "invalid_path" });
    await sb.run("sh", { args: ["-c", "ln -s /dev/urandom /tmp/endless"] });
    await expect(sb.readFile("/tmp/endless")).rejects.toMatchObject({ code: "invalid_path" });
    await sb.run("truncate", { args: ["-s", "300M", "/tmp/sparse-but-large"] });
    await expect(sb.readFile("/tmp/sparse-but-large")).rejects.toMatchObject({ code: "payload_too_large" });
  });

  it("uploads and downloads directory trees", async () => {
    const local = await mkdtemp(join(tmpdir(), "sbx-files-"));
    await mkdir(join(local, "src", "lib"), { recursive: true });
    await writeFile(join(local, "src", "main.py"), "print('hi')\n");
    await writeFile(join(local, "src", "lib", "util.py"), "X = 1\n");
    await sb.uploadDirectory(local, "/app");
    expect((await sb.run("python3", { args: ["-V"] })).exitCode).not.toBe(0); // minimal image: no python, files only
    expect((await sb.readFile("/app/src/lib/util.py")).toString()).toBe("X = 1\n");
    await sb.run("sh", { args: ["-c", "echo generated > /app/src/out.txt"] });
    const back = await mkdtemp(join(tmpdir(), "sbx-files-back-"));
    await sb.downloadDirectory("/app", back);
    expect(await readFile(join(back, "src", "out.txt"), "utf8")).toBe("generated\n");
    expect(await readFile(join(back, "src", "main.py"), "utf8")).toBe("print('hi')\n");
  });

  it("stops the archive's tar in the sandbox when the client leaves mid-download", async () => {
    // 8 GiB of zeros to tar (sparse: no disk used), far more than one read takes.
    await sb.run("sh", { args: ["-c", "mkdir -p /tmp/big && truncate -s 8G /tmp/big/zeros"] });
    const tars = async () =>
      (await sb.run("sh", { args: ["-c", "cat /proc/[0-9]*/comm 2>/dev/null | grep -cx tar || true"] })).stdout.trim();
    const ac = new AbortController();
    const archive = await sb.downloadArchive("/tmp/big", { signal: ac.signal });
    const chunks = archive[Symbol.asyncIterator]();
    expect((await chunks.next()).done).toBe(false);
    expect(await tars()).toBe("1");
    ac.abort();
    await chunks.return?.();
    // Left running, the tar would wait on its full pipe for good.
    for (let i = 0; i < 100 && (await tars()) !== "0"; i++) await new Promise((r) => setTimeout(r, 50));
    expect(await tars()).toBe("0");
    await sb.run("rm", { args: ["-rf", "/tmp/big"] });
  });
});

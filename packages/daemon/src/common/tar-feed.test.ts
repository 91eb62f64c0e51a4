// feedTar against real GNU tar (`tar -t`, which reads like `-x` and writes nothing): a tar that quits
// at its end marker while the feed still has megabytes to send is told apart from a source that
// fails, even when the source's error carries the code a closed pipe would.
import { execFileSync, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { once } from "node:events";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { feedTar } from "./tar-feed.js";

describe("feedTar", () => {
  let root: string;
  let archive: Buffer;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "sbx-tar-feed-"));
    await writeFile(join(root, "a"), "A");
    archive = execFileSync("tar", ["-C", root, "-cf", "-", "a"]);
  });
  afterAll(async () => {
    if (root) await rm(root, { recursive: true, force: true });
  });

  const tarList = () => spawn("tar", ["-tf", "-"], { stdio: ["pipe", "ignore", "ignore"] });

  it("resolves false, not an error, when tar quits at its end marker with the feed far from done", async () => {
    const tar = tarList();
    const exit = once(tar, "close");
    // 32 MiB of zeros after the marker, in 64 KiB writes: tar is gone long before the end.
    async function* padded(): AsyncGenerator<Buffer> {
      yield archive;
      for (let i = 0; i < 512; i++) yield Buffer.alloc(64 << 10);
    }
    await expect(feedTar(padded(), tar.stdin)).resolves.toBe(false);
    expect((await exit)[0]).toBe(0);
  });

  it("resolves true when tar took everything", async () => {
    const tar = tarList();
    const exit = once(tar, "close");
    await expect(feedTar([archive.subarray(0, 1024)], tar.stdin)).resolves.toBe(true);
    expect((await exit)[0]).toBe(0);
  });

  it("throws the source's own error, even one coded like a closed pipe", async () => {
    const tar = tarList();
    const exit = once(tar, "close");
    const broken = Object.assign(new Error("the export broke"), { code: "EPIPE" });
    async function* failing(): AsyncGenerator<Buffer> {
      yield archive.subarray(0, 512);
      throw broken;
    }
    await expect(feedTar(failing(), tar.stdin)).rejects.toBe(broken);
    await exit;
  });
});

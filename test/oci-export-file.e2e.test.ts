// `sbx image export -o FILE.tar` end to end: the patched form (a first-time layer streamed as it
// is compressed, its tar header written after it) through the real daemon and CLI gives the very
// bytes of the plain form, skopeo and umoci take the file, and a client that goes away mid-export
// leaves no file, no temp file, no spool and no cache entry half made: the next export is whole.
import { spawnSync } from "node:child_process";
import { createWriteStream, readdirSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { Image } from "@sbx-sh/sdk";
import { sharedClient } from "./fixtures.js";
import { REPO, testDaemonRoot } from "./harness.js";

const host = inject("sbxHost");
const client = sharedClient();
let work: string;

function sh(cmd: string, args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 600_000, maxBuffer: 64 << 20 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
const sbx = (args: string[]) => sh(process.execPath, [join(REPO, "packages", "cli", "bin", "sbx.js"), ...args]);
process.env.SBX_HOST = host;

const data = join(testDaemonRoot("shared"), "data");
/** Files a name starts with in a dir (none if the dir is missing). */
const files = (dir: string, prefix = ""): string[] => {
  try {
    return readdirSync(dir).filter((n) => n.startsWith(prefix));
  } catch {
    return [];
  }
};
/** The blob digests the daemon's blob cache has committed. */
const cached = (): string[] =>
  files(join(data, "oci-blobs"))
    .filter((n) => n.endsWith(".json"))
    .map((n) => JSON.parse(readFileSync(join(data, "oci-blobs", n), "utf8")) as { blob: { desc: { digest: string } } })
    .map((r) => r.blob.desc.digest);
const until = async (ok: () => boolean): Promise<boolean> => {
  for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 50));
  return ok();
};
const sum = (f: string) => sh("sha256sum", [f]).stdout.split(" ")[0];
const manifestOf = (tar: string) =>
  JSON.parse(sh("skopeo", ["inspect", "--raw", `oci-archive:${tar}`]).stdout) as {
    layers: { digest: string; size: number }[];
  };
/** The base layer's blob size (set by the first test): the second aborts past it, in the new layer. */
let baseSize = 0;

/** An image whose top layer no export has seen (random content), and two empty layers. */
async function freshImage(name: string): Promise<void> {
  await new Image({ name, baseImage: "debian-minimal" })
    .run(`head -c 8000000 /dev/urandom > /opt/noise-${Date.now()} && seq 1 200000 > /opt/count`)
    .run("true")
    .run("true")
    .build({ client, replace: true });
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "sbx-oci-file-e2e-"));
}, 60_000);

afterAll(async () => {
  for (const name of ["oci-file-a", "oci-file-b"]) await client.deleteImage(name).catch(() => undefined);
  if (work) await rm(work, { recursive: true, force: true });
});

describe("sbx image export -o FILE.tar (patched form)", () => {
  it("writes a first export byte-identical to the plain form's, which skopeo and umoci accept", async () => {
    await freshImage("oci-file-a");
    const first = join(work, "a-first.tar");
    const before = new Set(cached());
    const out = sbx(["image", "export", "oci-file-a", "-o", first]);
    expect(out.code, out.stderr).toBe(0);
    const manifest = manifestOf(first);
    const layers = manifest.layers.map((l) => l.digest);
    baseSize = manifest.layers[0]!.size;
    // The new layer was not in the cache: this export compressed (and streamed) it.
    expect(before.has(layers[1]!)).toBe(false);
    expect(await until(() => layers.every((d) => cached().includes(d)))).toBe(true);
    // The plain form (stdout's path), sent from the cache this time: the same bytes.
    const plain = join(work, "a-plain.tar");
    await pipeline(await client.exportImage("oci-file-a"), createWriteStream(plain));
    expect(sum(first)).toBe(sum(plain));
    const copied = join(work, "a-layout");
    const copy = sh("skopeo", ["copy", "--quiet", `oci-archive:${first}`, `oci:${copied}:x`]);
    expect(copy.code, copy.stderr).toBe(0);
    const unpacked = sh("umoci", ["unpack", "--image", `${copied}:x`, join(work, "a-bundle")]);
    expect(unpacked.code, unpacked.stderr).toBe(0);
    expect(files(work).filter((n) => n.endsWith(".part"))).toEqual([]);
  });

  it("leaves no file, temp file, spool or cache entry when the client goes away mid-export; the next export is whole", async () => {
    await freshImage("oci-file-b");
    const target = join(work, "b.tar");
    const spoolsBefore = new Set(files(join(data, "tmp"), "oci-"));
    const cachedBefore = new Set(cached());
    const ac = new AbortController();
    let got = 0;
    await expect(
      client.exportImageToFile("oci-file-b", target, {
        signal: ac.signal,
        onBytes: (n) => {
          got += n;
          if (got > baseSize + (2 << 20)) ac.abort();
        },
      }),
    ).rejects.toThrow();
    expect(baseSize).toBeGreaterThan(0);
    expect(got).toBeGreaterThan(baseSize + (2 << 20));
    expect(files(work, "b.tar")).toEqual([]);
    expect(files(work, ".b.tar")).toEqual([]);
    // The daemon stops the export: its spools go, and no cache entry is committed for the layer.
    expect(await until(() => files(join(data, "tmp"), "oci-").every((n) => spoolsBefore.has(n)))).toBe(true);
    const added = cached().filter((d) => !cachedBefore.has(d));
    expect(added).toEqual([]);
    // The daemon carries on: the export again (patched, first time for the layer still) is whole.
    const out = sbx(["image", "export", "oci-file-b", "-o", target]);
    expect(out.code, out.stderr).toBe(0);
    const plain = join(work, "b-plain.tar");
    await pipeline(await client.exportImage("oci-file-b"), createWriteStream(plain));
    expect(sum(target)).toBe(sum(plain));
    expect(sh("skopeo", ["inspect", `oci-archive:${target}`]).code).toBe(0);
  });
});

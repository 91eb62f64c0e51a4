// pullBlob against a registry on loopback that breaks blob downloads off mid-body, as a registry
// or proxy closing a connection does: the real RegistryClient (undici, digest checks, its retry:
// oci/registry-blob.test.ts tests each way to fail) over the cluster registry's access. Broken once, the download is tried again and lands whole; broken
// every time, it fails naming the blob and the registry, after a bounded number of attempts,
// leaving no file; other bytes than the digest, or a missing blob, are final at once.
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { BLOB_ATTEMPTS, pullBlob } from "./content-blob.js";
import { ClusterRegistry } from "./registry-access.js";

const blob = Buffer.alloc(256 << 10, "layer bytes ");
const digest = `sha256:${createHash("sha256").update(blob).digest("hex")}`;
const want = { digest, size: blob.length };

describe("pulling a blob from the cluster registry", () => {
  let server: Server;
  let registry: ClusterRegistry;
  let dir: string;
  /** How the next requests are answered: cut mid-body this many times, then served whole. */
  let cuts = 0;
  let serve: "blob" | "other bytes" | "missing" = "blob";
  let requests = 0;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "sbx-content-blob-"));
    server = createServer((req, res) => {
      if (req.url !== `/v2/sbx/content/blobs/${digest}`) return res.writeHead(404).end();
      requests++;
      if (serve === "missing") return res.writeHead(404, { "content-type": "application/json" }).end("{}");
      const body = serve === "other bytes" ? Buffer.from(blob).fill("x", 0, 10) : blob;
      res.writeHead(200, { "content-length": String(body.length), "content-type": "application/octet-stream" });
      if (cuts > 0) {
        cuts--;
        res.write(body.subarray(0, body.length / 2), () => res.socket?.destroy());
        return;
      }
      res.end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    registry = await ClusterRegistry.open({ registry: `127.0.0.1:${(server.address() as AddressInfo).port}` });
  });
  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    cuts = 0;
    serve = "blob";
    requests = 0;
  });

  const pull = async (to: string): Promise<void> =>
    pullBlob(await registry.client(null, digest), registry.address, `layer ${digest}`, want, join(dir, to));

  it("tries a download that broke off again, and it lands whole", async () => {
    cuts = 1;
    await pull("once");
    expect(requests).toBe(2);
    expect((await readFile(join(dir, "once"))).equals(blob)).toBe(true);
  });

  it("fails naming the blob and the registry once every attempt broke off, and leaves no file", async () => {
    cuts = 100;
    const err = await pull("never").then(
      () => ({ code: "none", message: "it downloaded" }),
      (e: unknown) => e as { code: string; message: string },
    );
    expect(err).toMatchObject({
      code: "upstream_unreachable",
      details: { registry: registry.address, blob: digest, attempts: BLOB_ATTEMPTS, reason: "transfer_broken" },
    });
    expect(err.message).toContain(
      `layer ${digest} could not be downloaded from the cluster registry ${registry.address}: the download of blob`,
    );
    expect(err.message).toMatch(/broke off after \d+ bytes .*; tried 3 times$/);
    expect(requests).toBe(BLOB_ATTEMPTS);
    expect(existsSync(join(dir, "never"))).toBe(false);
    expect((await readdir(dir)).filter((f) => f.startsWith("never"))).toEqual([]);
  });

  it("does not try again when the registry serves other bytes, or lacks the blob", async () => {
    serve = "other bytes";
    await expect(pull("tampered")).rejects.toMatchObject({
      code: "invalid_archive",
      message: expect.stringMatching(/does not match its descriptor/),
    });
    expect(requests).toBe(1);
    serve = "missing";
    await expect(pull("missing")).rejects.toMatchObject({ code: "invalid_archive" });
    expect(requests).toBe(2);
    expect((await readdir(dir)).filter((f) => f.startsWith("tampered") || f.startsWith("missing"))).toEqual([]);
  });
});

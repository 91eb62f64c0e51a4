// What the cluster content and image e2e tests look at besides the API: the manifest the fleet's
// registry holds under a tag, rows of the control plane's PostgreSQL, and a tiny OCI archive (a
// static busybox and a marker file) to import.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFile, mkdir, readFile, symlink, writeFile } from "node:fs/promises";
import { request as httpsRequest } from "node:https";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import pg from "pg";
import { expect } from "vitest";
import type { Fleet } from "./cluster-harness.js";

/** The manifest the registry holds under `tag` (over its HTTPS, trusting the fleet's CA). */
export function manifestOf(fleet: Fleet, tag: string): Promise<{ layers: Array<{ digest: string; size: number }> }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      `https://${fleet.registry!.host}/v2/sbx/content/manifests/${tag}`,
      { ca: fleet.certs.ca, headers: { accept: "application/vnd.oci.image.manifest.v1+json" } },
      (res) => {
        let text = "";
        res.on("data", (c: Buffer) => (text += c.toString()));
        res.on("end", () => {
          expect(res.statusCode).toBe(200);
          resolve(JSON.parse(text) as never);
        });
      },
    );
    req.on("error", reject);
    req.end();
  });
}

/** One SQL statement on the fleet's PostgreSQL, in sbx's schema. */
export async function query<T extends Record<string, unknown> = Record<string, unknown>>(
  fleet: Fleet,
  sql: string,
): Promise<{ rows: T[] }> {
  const c = new pg.Client({ connectionString: fleet.pg.url });
  await c.connect();
  try {
    await c.query("SET search_path TO sbx");
    return await c.query<T>(sql);
  } finally {
    await c.end();
  }
}

/** A one-layer OCI image layout tar: a static busybox as /bin/sh and `/opt/marker` holding `marker` (made in `ctx`). */
export async function tinyArchive(ctx: string, marker: string): Promise<Buffer> {
  const root = join(ctx, `${marker}-root`);
  const layout = join(ctx, `${marker}-layout`);
  await mkdir(join(root, "bin"), { recursive: true });
  await mkdir(join(root, "opt"), { recursive: true });
  await mkdir(join(layout, "blobs", "sha256"), { recursive: true });
  await copyFile("/bin/busybox", join(root, "bin", "busybox"));
  await symlink("busybox", join(root, "bin", "sh"));
  await writeFile(join(root, "opt", "marker"), `${marker}\n`);
  const layerTar = join(ctx, `${marker}-layer.tar`);
  expect(spawnSync("tar", ["--numeric-owner", "--owner=0", "--group=0", "-C", root, "-cf", layerTar, "."]).status).toBe(
    0,
  );
  const plain = await readFile(layerTar);
  const gz = gzipSync(plain);
  const sha = (b: Buffer | string): string => `sha256:${createHash("sha256").update(b).digest("hex")}`;
  const blob = async (b: Buffer | string): Promise<{ digest: string; size: number }> => {
    const digest = sha(b);
    await writeFile(join(layout, "blobs", "sha256", digest.slice(7)), b);
    return { digest, size: Buffer.byteLength(b) };
  };
  const layer = await blob(gz);
  const config = await blob(
    JSON.stringify({
      architecture: "amd64",
      os: "linux",
      config: { Env: ["PATH=/bin"] },
      rootfs: { type: "layers", diff_ids: [sha(plain)] },
    }),
  );
  const manifest = await blob(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
      layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", ...layer }],
    }),
  );
  await writeFile(
    join(layout, "index.json"),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          ...manifest,
          annotations: { "org.opencontainers.image.ref.name": "latest" },
        },
      ],
    }),
  );
  await writeFile(join(layout, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  const out = join(ctx, `${marker}.tar`);
  expect(spawnSync("tar", ["-C", layout, "-cf", out, "."]).status).toBe(0);
  return readFile(out);
}

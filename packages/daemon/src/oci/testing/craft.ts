// Crafted OCI layouts for tests: layer tars with any entries (hostile ones included) and layouts
// that can be broken on purpose (wrong diff id, missing or corrupt blob, odd media type).
import { createHash } from "node:crypto";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { MEDIA } from "../layout.js";
import type { TarHeader } from "../tar.js";
import { encodeHeader, padding, TAR_END } from "../tar-write.js";

const sha = (b: Buffer | string): string => `sha256:${createHash("sha256").update(b).digest("hex")}`;

export type Entry = Partial<TarHeader> & { path: string; data?: string };
export function tarOf(entries: Entry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = Buffer.from(e.data ?? "");
    const h: TarHeader = {
      type: "file",
      mode: 0o644,
      uid: 0,
      gid: 0,
      mtime: 1_700_000_000,
      linkpath: "",
      devmajor: 0,
      devminor: 0,
      xattrs: {},
      ...e,
      size: e.type && e.type !== "file" ? 0 : data.length,
    };
    parts.push(encodeHeader(h));
    if (h.type === "file" && data.length) parts.push(data, padding(data.length));
  }
  parts.push(TAR_END);
  return Buffer.concat(parts);
}

/** Writes an OCI layout with one gzip layer per tar; `tweak` may break the documents before they are written. */
export async function layout(
  dir: string,
  tars: Buffer[],
  tweak: {
    layerType?: string;
    wrongDiffId?: boolean;
    dropBlob?: boolean;
    corruptBlob?: boolean;
    /** diff_ids to claim instead of the tars' own (another image's layers). */
    diffIds?: string[];
  } = {},
): Promise<void> {
  const blobs = join(dir, "blobs/sha256");
  await mkdir(blobs, { recursive: true });
  const put = async (b: Buffer): Promise<string> => {
    const d = sha(b);
    await writeFile(join(blobs, d.slice(7)), b);
    return d;
  };
  const layers = [];
  for (const t of tars) {
    const gz = gzipSync(t);
    const digest = await put(gz);
    layers.push({ mediaType: tweak.layerType ?? MEDIA.layerGzip, digest, size: gz.length });
    if (tweak.dropBlob) await rm(join(blobs, digest.slice(7)));
    if (tweak.corruptBlob)
      await writeFile(
        join(blobs, digest.slice(7)),
        Buffer.concat([gz.subarray(0, 20), Buffer.alloc(gz.length - 20, 7)]),
      );
  }
  const config = Buffer.from(
    JSON.stringify({
      architecture: "amd64",
      os: "linux",
      config: {},
      rootfs: {
        type: "layers",
        diff_ids: tweak.diffIds ?? tars.map((t) => (tweak.wrongDiffId ? sha("nope") : sha(t))),
      },
    }),
  );
  const cd = await put(config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA.manifest,
      config: { mediaType: MEDIA.config, digest: cd, size: config.length },
      layers,
    }),
  );
  const md = await put(manifest);
  await writeFile(
    join(dir, "index.json"),
    JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: MEDIA.manifest, digest: md, size: manifest.length }] }),
  );
  await writeFile(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
}

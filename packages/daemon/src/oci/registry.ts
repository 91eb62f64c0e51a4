// Push and pull between an OCI layout dir and a registry. Push sends what the registry lacks
// (HEAD first), then the manifest. Pull fetches manifest, config and only the layers whose diff
// ids the caller does not have, into a layout dir that the import path then checks and unpacks.
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { SbxError } from "@sbx-sh/protocol";
import {
  blobPath,
  INDEX_TYPES,
  MANIFEST_TYPES,
  ociArch,
  type Descriptor,
  type ImageConfigJson,
  type ManifestJson,
} from "./layout.js";
import type { RegistryClient } from "./registry-client.js";

/** How far a push or pull is: blobs the registry (or we) already had count as done. */
export interface RegistryProgress {
  bytes: number;
  total: number;
  layers: number;
  layersTotal: number;
}
export type OnRegistryProgress = (p: RegistryProgress) => void;

/** Counts bytes and finished layers against the totals and reports each change. */
function progressCounter(blobs: { size: number }[], layersTotal: number, on: OnRegistryProgress | undefined) {
  const p: RegistryProgress = { bytes: 0, total: blobs.reduce((n, b) => n + b.size, 0), layers: 0, layersTotal };
  on?.({ ...p });
  return {
    bytes: (n: number) => {
      p.bytes = Math.min(p.total, p.bytes + n);
      on?.({ ...p });
    },
    /** A blob finished (sent, fetched or already there): its bytes count in full, once. */
    blob: (size: number, sentSoFar: number, layer: boolean) => {
      p.bytes = Math.min(p.total, p.bytes + Math.max(0, size - sentSoFar));
      if (layer) p.layers++;
      on?.({ ...p });
    },
  };
}

export interface TransferStats {
  digest: string;
  blobsSent: number;
  blobsSkipped: number;
}

/** Pushes the image whose manifest descriptor is given (from the layout in `dir`) under the client's tag. */
export async function pushLayout(
  client: RegistryClient,
  dir: string,
  manifest: Descriptor,
  onProgress?: OnRegistryProgress,
): Promise<TransferStats> {
  const data = await readFile(blobPath(dir, manifest.digest));
  const m = JSON.parse(data.toString()) as ManifestJson;
  let blobsSent = 0;
  let blobsSkipped = 0;
  const progress = progressCounter([...m.layers, m.config], m.layers.length, onProgress);
  for (const d of [...m.layers, m.config]) {
    let sent = 0;
    const count = (n: number) => {
      sent += n;
      progress.bytes(n);
    };
    if (await client.putBlob(d.digest, blobPath(dir, d.digest), count)) blobsSent++;
    else blobsSkipped++;
    progress.blob(d.size, sent, d !== m.config);
  }
  const digest = await client.putManifest(client.ref.tag ?? manifest.digest, data, manifest.mediaType);
  return { digest, blobsSent, blobsSkipped };
}

/**
 * Pulls the client's reference into a new layout dir. Layers for which `have(diffId)` is true are
 * not downloaded (the import reuses the local copy). Returns the manifest descriptor.
 */
export async function pullToLayout(
  client: RegistryClient,
  dir: string,
  have: (diffId: string) => boolean | Promise<boolean>,
  onProgress?: OnRegistryProgress,
): Promise<{ manifest: Descriptor; skipped: number; fetched: number }> {
  await mkdir(join(dir, "blobs", "sha256"), { recursive: true });
  let got = await client.getManifest(client.ref.digest ?? client.ref.tag ?? "latest");
  if (INDEX_TYPES.includes(got.mediaType)) {
    const index = JSON.parse(got.data.toString()) as { manifests?: Descriptor[] };
    const pick = (index.manifests ?? []).find(
      (d) =>
        d.platform?.os === "linux" && d.platform.architecture === ociArch() && MANIFEST_TYPES.includes(d.mediaType),
    );
    if (!pick)
      throw new SbxError(
        "image_not_found",
        `${client.ref.registry}/${client.ref.repository} has no image for linux/${ociArch()}`,
      );
    got = await client.getManifest(pick.digest);
  }
  if (!MANIFEST_TYPES.includes(got.mediaType))
    throw new SbxError("invalid_archive", `unsupported manifest media type ${JSON.stringify(got.mediaType)}`);
  await writeFile(blobPath(dir, got.digest), got.data);
  const m = JSON.parse(got.data.toString()) as ManifestJson;
  if (!m.config || !Array.isArray(m.layers))
    throw new SbxError("invalid_archive", `manifest ${got.digest} is not an image manifest`);
  if (!(m.config.size <= 8 << 20))
    throw new SbxError("invalid_archive", `config ${m.config.digest} is larger than 8 MiB`);
  await client.getBlob(m.config.digest, m.config.size, blobPath(dir, m.config.digest));
  const config = JSON.parse(await readFile(blobPath(dir, m.config.digest), "utf8")) as ImageConfigJson;
  const diffIds = config.rootfs?.diff_ids ?? [];
  let skipped = 0;
  let fetched = 0;
  const progress = progressCounter(m.layers, m.layers.length, onProgress);
  for (const [i, l] of m.layers.entries()) {
    const diffId = diffIds[i];
    let got = 0;
    if (diffId && (await have(diffId))) skipped++;
    else {
      await client.getBlob(l.digest, l.size, blobPath(dir, l.digest), {
        onBytes: (n) => {
          got += n;
          progress.bytes(n);
        },
      });
      fetched++;
    }
    progress.blob(l.size, got, true);
  }
  const manifest: Descriptor = { mediaType: got.mediaType, digest: got.digest, size: got.data.length };
  await writeFile(join(dir, "index.json"), JSON.stringify({ schemaVersion: 2, manifests: [manifest] }));
  await writeFile(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  return { manifest, skipped, fetched };
}

// Pulling one piece of cluster content (a snapshot's or an image's stack) from the cluster registry
// into a node's layer store: the manifest fetched by digest and checked (its annotation by the
// caller's `describe`, its sizes against the free disk, host ids only for a base recipe this node
// builds with them), then every layer this node lacks downloaded and unpacked, each blob checked
// against its digest and again with its diff id while it unpacks. A download that breaks off is
// tried again (content-blob.ts); pulls of other content that share a layer share its download.
// Used by content-fetch.ts.
import { existsSync } from "node:fs";
import { mkdir, readFile, rm, statfs } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { SbxError } from "@sbx-sh/protocol";
import type { ImageLayerRef } from "../domain/records.js";
import { importedLayerKey } from "../oci/import.js";
import { MANIFEST_TYPES, MEDIA, type ImageConfigJson, type ManifestJson } from "../oci/layout.js";
import { unpackLayer } from "../oci/unpack.js";
import { pullBlob } from "./content-blob.js";
import type { FetchDeps } from "./content-fetch.js";
import type { CommittedLayer } from "../layers/layer-store.js";
import type { HeldKeys } from "../services/layers-in-use.js";
import { CONTENT_ANNOTATION } from "./content-registry.js";

/**
 * Fetches the manifest by digest, checks it (`describe` parses its annotation), and puts each layer
 * this node lacks in the layer store, verified by digest and diff id. The layer keys stay held from
 * garbage collection (`held`, one hold each in `busy`) until the caller's record names them and releases them.
 */
export async function pullStack(
  d: FetchDeps,
  busy: HeldKeys,
  /** Layers being fetched now, by key: a pull that needs one joins it (one download, one unpack). */
  inFlight: Map<string, Promise<CommittedLayer>>,
  project: string,
  manifestDigest: string,
  describe: (annotation: string | undefined) => {
    steps: string[];
    baseRecipe: { name: string; id: string } | null;
    systemd: boolean;
  },
): Promise<{ refs: ImageLayerRef[]; stack: ImageLayerRef[]; baseDir: string; held: string[] }> {
  const client = await d.registry.client(null, manifestDigest);
  const got = await client.getManifest(manifestDigest);
  if (!MANIFEST_TYPES.includes(got.mediaType))
    throw new SbxError("invalid_archive", `content ${manifestDigest} is not an image manifest`);
  const m = JSON.parse(got.data.toString()) as ManifestJson & { annotations?: Record<string, string> };
  const meta = describe(m.annotations?.[CONTENT_ANNOTATION]);
  // A node pushes at most MAX_STACK_DEPTH layers plus a base: anything longer was not made by one.
  if (!Array.isArray(m.layers) || m.layers.length > 64 || !m.config || !(m.config.size <= 8 << 20))
    throw new SbxError("invalid_archive", `content ${manifestDigest} is malformed`);
  // Declared sizes are checked before a byte is fetched: gzip layers only, and no more than the
  // data disk has free (the registry is not trusted to keep a node's disk).
  if (!m.layers.every((l) => l?.mediaType === MEDIA.layerGzip && Number.isSafeInteger(l.size) && l.size >= 0))
    throw new SbxError("invalid_archive", `content ${manifestDigest}: its layers are not sized gzip layers`);
  const declared = m.layers.reduce((a, l) => a + l.size, 0);
  await mkdir(d.tmpDir, { recursive: true, mode: 0o700 });
  const disk = await statfs(d.tmpDir);
  if (declared > disk.bavail * disk.bsize)
    throw new SbxError(
      "no_space",
      `content ${manifestDigest} declares ${declared} bytes: more than this node has free`,
    );
  // Host ids (uid base 0) only for a base recipe this node itself builds with them, never on the registry's word.
  const base = meta.baseRecipe ? await d.bases.resolveBase(meta.baseRecipe.name, project) : null;
  if (meta.systemd && !base?.config.systemd)
    throw new SbxError("invalid_archive", `content ${manifestDigest} claims host ids its base does not have here`);
  const dir = join(d.tmpDir, `content-${randomBytes(6).toString("hex")}`);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await mkdir(d.layers.root, { recursive: true, mode: 0o700 });
  const uidBase = meta.systemd ? 0 : d.uidBase;
  const held: string[] = [];
  let done = false;
  try {
    await pullBlob(client, d.registry.address, `config ${m.config.digest}`, m.config, join(dir, "config"), d.log);
    const config = JSON.parse(await readFile(join(dir, "config"), "utf8")) as ImageConfigJson;
    const diffIds = config.rootfs?.diff_ids ?? [];
    const wantLayers = meta.steps.length + (meta.baseRecipe ? 0 : 1);
    if (diffIds.length !== m.layers.length || m.layers.length !== wantLayers)
      throw new SbxError("invalid_archive", `content ${manifestDigest}: its layers, diff ids and steps disagree`);
    const refs: ImageLayerRef[] = [];
    for (const [i, l] of m.layers.entries()) {
      const diffId = diffIds[i]!;
      const key = importedLayerKey(diffId, uidBase, project);
      held.push(key);
      busy.hold([key]);
      const step =
        i < m.layers.length - meta.steps.length ? "base" : meta.steps[i - (m.layers.length - meta.steps.length)]!;
      const local = await d.images.getLayer(key);
      if (local?.dir && local.digest && existsSync(local.dir)) {
        refs.push({ key, digest: local.digest, dir: local.dir, sizeBytes: local.sizeBytes, step, cached: true });
        continue;
      }
      // Another pull (other content sharing this layer) is fetching it now: its layer is this one's.
      const joined = inFlight.get(key);
      if (joined) {
        const made = await joined;
        refs.push({ key, digest: made.digest, dir: made.dir, sizeBytes: made.sizeBytes, step, cached: true });
        continue;
      }
      const making = (async () => {
        const blob = join(dir, `layer-${i}`);
        const unpacked = join(d.layers.root, `.oci-${randomBytes(6).toString("hex")}`);
        try {
          await pullBlob(client, d.registry.address, `layer ${l.digest}`, l, blob, d.log);
          await unpackLayer(
            { path: blob, digest: l.digest, size: l.size, compression: "gzip", diffId },
            unpacked,
            uidBase,
          );
          const made = await d.layers.adopt(unpacked, key);
          const { digest, dir: at, sizeBytes } = made;
          await d.images.putLayer({ key, digest, dir: at, sizeBytes, step, createdAt: new Date().toISOString() });
          return made;
        } finally {
          await rm(unpacked, { recursive: true, force: true });
          await rm(blob, { force: true });
        }
      })();
      inFlight.set(key, making);
      try {
        const made = await making;
        refs.push({ key, digest: made.digest, dir: made.dir, sizeBytes: made.sizeBytes, step, cached: false });
      } finally {
        inFlight.delete(key);
      }
    }
    done = true;
    if (meta.baseRecipe && base) {
      if (base.id !== meta.baseRecipe.id)
        d.log.warn(
          { manifest: manifestDigest, base: base.name, here: base.id, there: meta.baseRecipe.id },
          "base recipe differs between nodes",
        );
      return { refs, stack: refs, baseDir: base.dir, held };
    }
    return { refs, stack: refs.slice(1), baseDir: refs[0]!.dir, held };
  } finally {
    if (!done) busy.release(held);
    await rm(dir, { recursive: true, force: true });
  }
}

// What an export learned about a layer dir: its gzip blob's digest and size and its diff id. An
// OCI archive needs a blob's size and digest in the tar header before the blob, so a layer seen
// for the first time is spooled until it is compressed; with this memo the next export of the
// same layer writes the header first and streams the blob while it is compressed (verified at
// the end). Layer dirs never change once made; a dir removed and made again (a rebuilt step, a
// collected layer) is another dir: entries are keyed by the dir's device, inode, birth and change
// times, and by everything the bytes depend on (owner shift, compressor and format version).
import { stat } from "node:fs/promises";
import type { ExportLayer, LayerBlob } from "./layer-blob.js";

/** Bump when the bytes an export writes for a layer change (tar rewrite, gzip framing, block size, level, memLevel). */
const FORMAT = "oci-layer-v2";

/** What a key is made of (a blob cache record keeps this much of its layer, to check its key again). */
export interface KeyedLayer {
  dir: string;
  uidBase: number;
  gzip?: { id: string };
}

/** A layer as a blob cache record keeps it: the gzip program only by its id. */
export function keyedLayer(layer: ExportLayer): KeyedLayer {
  return { dir: layer.dir, uidBase: layer.uidBase, ...(layer.gzip ? { gzip: { id: layer.gzip.id } } : {}) };
}

/** The compressor's part of a key: the gzip program's id, or zlib's version (the daemon's own gzip). */
function compressorId(layer: KeyedLayer): string {
  return layer.gzip?.id ?? `zlib-${process.versions.zlib}`;
}

export class BlobMemo {
  private readonly known = new Map<string, LayerBlob>();

  constructor(private readonly limit = 4096) {}

  /** The key of a layer dir as it is now; undefined when it cannot be read (the export will say why). */
  async key(layer: KeyedLayer): Promise<string | undefined> {
    const st = await stat(layer.dir, { bigint: true }).catch(() => undefined);
    if (!st?.isDirectory()) return undefined;
    return [`${FORMAT} ${compressorId(layer)}`, layer.uidBase, st.dev, st.ino, st.birthtimeNs, st.ctimeNs].join(":");
  }

  get(key: string | undefined): LayerBlob | undefined {
    const hit = key === undefined ? undefined : this.known.get(key);
    if (hit) {
      // Most recently used last: the oldest goes first when the memo is full.
      this.known.delete(key!);
      this.known.set(key!, hit);
    }
    return hit;
  }

  set(key: string | undefined, blob: LayerBlob): void {
    if (key === undefined) return;
    this.known.delete(key);
    this.known.set(key, blob);
    while (this.known.size > this.limit) this.known.delete(this.known.keys().next().value!);
  }

  forget(key: string | undefined): void {
    if (key !== undefined) this.known.delete(key);
  }
}

/** The daemon's memo, shared by every export. */
export const BLOB_MEMO = new BlobMemo();

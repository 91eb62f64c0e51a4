// Compressed layer blobs kept on disk after an export made them, so that the next export (or push)
// of the same layer sends a file instead of compressing the layer again. Layer dirs never change
// once committed, and an entry is keyed like BlobMemo (the dir's identity and everything the bytes
// depend on), so an entry is right for as long as its dir is there; prune() drops the entries of
// dirs that went (layer GC) or were made again. Bounded in total size, least recently used first.
// Crash-safe: the blob is written under a temp name, synced and renamed, then its record is; a blob
// without a record, a record whose blob has another size, and temp files are ignored and removed.
// Every use checks the blob's digest too (as it is sent, or before it is linked into a layout).
import { createHash, randomBytes } from "node:crypto";
import { mkdir, open, readdir, rename, rm, stat, utimes, writeFile, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { readJson, syncPath } from "../common/files.js";
import type { ExportLayer, LayerBlob } from "./layer-blob.js";
import { keyedLayer, type BlobMemo, type KeyedLayer } from "./blob-memo.js";

/** What the record file holds: the blob's descriptor, and the layer it was made from (for prune). */
interface CacheRecord {
  key: string;
  layer: KeyedLayer;
  blob: LayerBlob;
}

/** An entry found for a key: its blob, opened (eviction cannot take it away once it is). */
export interface CachedBlob {
  blob: LayerBlob;
  path: string;
  handle: FileHandle;
}

const RECORD = ".json";
const BLOB = ".gz";

export class BlobCache {
  /** Entry name → blob bytes and last use (ms); loaded from disk at first use. */
  private index: Promise<Map<string, { bytes: number; used: number }>> | undefined;
  private readonly pending = new Set<Promise<void>>();

  constructor(
    readonly dir: string,
    /** Total blob bytes kept; the least recently used entries go beyond it. */
    readonly limitBytes: number,
  ) {}

  private name(key: string): string {
    return createHash("sha256").update(key).digest("hex").slice(0, 40);
  }

  private path(name: string, ext: string): string {
    return join(this.dir, name + ext);
  }

  /** The entry of `key`, opened, or undefined (a broken entry is removed on the way). */
  async get(key: string | undefined): Promise<CachedBlob | undefined> {
    if (key === undefined) return undefined;
    const index = await this.load();
    const name = this.name(key);
    const rec = await readRecord(this.path(name, RECORD));
    if (!rec || rec.key !== key) return undefined;
    const path = this.path(name, BLOB);
    const handle = await open(path, "r").catch(() => undefined);
    const size = handle ? (await handle.stat()).size : -1;
    if (!handle || size !== rec.blob.desc.size) {
      await handle?.close();
      await this.drop(key);
      return undefined;
    }
    const now = Date.now();
    index.set(name, { bytes: size, used: now });
    // The record's mtime is the last use across restarts (eviction order); best effort.
    await utimes(this.path(name, RECORD), now / 1000, now / 1000).catch(() => undefined);
    return { blob: rec.blob, path, handle };
  }

  /**
   * Adds an entry: `fill(path)` puts the blob's bytes at a temp path. Failures only mean no entry;
   * the promise never rejects.
   */
  put(
    key: string | undefined,
    layer: ExportLayer,
    blob: LayerBlob,
    fill: (path: string) => Promise<void>,
  ): Promise<void> {
    if (key === undefined) return Promise.resolve();
    const tmp = join(this.dir, `tmp-${randomBytes(6).toString("hex")}`);
    const done = (async () => {
      const name = this.name(key);
      try {
        await this.load(); // first: loading removes temp files
        await mkdir(this.dir, { recursive: true, mode: 0o700 }); // (removed by hand meanwhile)
        await fill(tmp);
        await syncPath(tmp);
        if ((await stat(tmp)).size !== blob.desc.size) throw new Error("the blob has another size than its record");
        await rename(tmp, this.path(name, BLOB));
        const rec: CacheRecord = { key, layer: keyedLayer(layer), blob };
        await writeFile(`${tmp}${RECORD}`, JSON.stringify(rec), { mode: 0o600 });
        await syncPath(`${tmp}${RECORD}`);
        await rename(`${tmp}${RECORD}`, this.path(name, RECORD));
        (await this.load()).set(name, { bytes: blob.desc.size, used: Date.now() });
        await this.evict();
      } catch {
        await rm(tmp, { force: true });
        await rm(`${tmp}${RECORD}`, { force: true });
      }
    })();
    this.pending.add(done);
    void done.finally(() => this.pending.delete(done));
    return done;
  }

  /**
   * The entry of `key` with its bytes hashed first (for a layout, whose blob is linked, not sent
   * through a check): one that is not what its record says is dropped, and undefined returned.
   */
  async getVerified(key: string | undefined): Promise<CachedBlob | undefined> {
    const hit = await this.get(key);
    if (!hit) return undefined;
    const hash = createHash("sha256");
    for await (const c of hit.handle.createReadStream({ autoClose: false, start: 0, highWaterMark: 1 << 20 }))
      hash.update(c as Buffer);
    if (`sha256:${hash.digest("hex")}` === hit.blob.desc.digest) return hit;
    await hit.handle.close();
    await this.drop(key!);
    return undefined;
  }

  /** Removes the entry of `key` (a blob that failed its digest check, say). */
  async drop(key: string): Promise<void> {
    await this.remove(await this.load(), this.name(key));
  }

  private async remove(index: Map<string, unknown>, name: string): Promise<void> {
    // Record first: a blob without its record is never used, and is swept.
    await rm(this.path(name, RECORD), { force: true });
    await rm(this.path(name, BLOB), { force: true });
    index.delete(name);
  }

  /** Drops the entries whose layer dir is gone or is another dir now (their key no longer matches). */
  async prune(memo: Pick<BlobMemo, "key">): Promise<number> {
    const index = await this.load();
    let dropped = 0;
    for (const name of [...index.keys()]) {
      const rec = await readRecord(this.path(name, RECORD));
      if (rec && (await memo.key(rec.layer)) === rec.key) continue;
      await this.remove(index, name);
      dropped++;
    }
    return dropped;
  }

  /** Waits for the entries being added (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.pending.size) await Promise.all([...this.pending]);
  }

  /** Total bytes of the entries. */
  async bytes(): Promise<number> {
    let n = 0;
    for (const e of (await this.load()).values()) n += e.bytes;
    return n;
  }

  private async evict(): Promise<void> {
    const index = await this.load();
    let total = 0;
    for (const e of index.values()) total += e.bytes;
    const oldestFirst = [...index.entries()].sort((a, b) => a[1].used - b[1].used);
    for (const [name, e] of oldestFirst) {
      if (total <= this.limitBytes) break;
      await this.remove(index, name);
      total -= e.bytes;
    }
  }

  /**
   * The index, from disk once (the daemon's start calls it, before any export): temp files and
   * incomplete entries a killed daemon left are removed on the way.
   */
  load(): Promise<Map<string, { bytes: number; used: number }>> {
    this.index ??= (async () => {
      const index = new Map<string, { bytes: number; used: number }>();
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      const names = await readdir(this.dir);
      const present = new Set(names);
      for (const f of names) {
        const name = f.slice(0, f.indexOf("."));
        const whole = present.has(name + RECORD) && present.has(name + BLOB);
        if (f.startsWith("tmp-") || !whole) {
          await rm(join(this.dir, f), { force: true });
          continue;
        }
        if (!f.endsWith(RECORD)) continue;
        const [r, b] = await Promise.all([stat(join(this.dir, f)), stat(this.path(name, BLOB))]);
        index.set(name, { bytes: b.size, used: r.mtimeMs });
      }
      return index;
    })();
    return this.index;
  }
}

async function readRecord(path: string): Promise<CacheRecord | undefined> {
  const rec = await readJson<CacheRecord>(path);
  return typeof rec?.key === "string" && typeof rec.blob?.desc?.size === "number" ? rec : undefined;
}

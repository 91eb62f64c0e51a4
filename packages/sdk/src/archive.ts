// Tar for copying trees in and out of sandboxes: packing local paths (optionally renamed) and
// extracting downloads. Sandbox content is untrusted, so extraction is node-tar's safe mode plus
// stricter rules: no owners, no setuid/setgid/sticky bits, no device nodes or fifos.
import { basename, dirname, resolve } from "node:path";
import { Readable } from "node:stream";
import * as tar from "tar";
import { SbxError } from "@sbx-sh/protocol";

/** Packs what is inside `dir` (entries `./...`), for unpacking into a target directory. */
export function packDirectoryContents(dir: string): Readable {
  return toReadable(tar.c({ cwd: resolve(dir), portable: true }, ["."]));
}

/**
 * Packs the file or tree at `localPath` as a single top entry named `name` (default: its basename);
 * `follow` packs what symbolic links point to instead of the links; `onFile` hears the size of
 * each regular file as its header is written.
 */
export function packPath(
  localPath: string,
  name: string = basename(localPath),
  options: { follow?: boolean; onFile?: (bytes: number) => void } = {},
): Readable {
  const abs = resolve(localPath);
  const base = basename(abs);
  const { onFile } = options;
  // Called after the entry's stat, before its header is written.
  const onWriteEntry = (entry: tar.WriteEntry): void => {
    if (onFile && entry.type === "File") onFile(entry.stat?.size ?? 0);
    if (name === base) return;
    // Renaming here, before the header is written, avoids copying the tree to a temp dir.
    const p = entry.path;
    if (p === base || p === `${base}/`) entry.path = p.replace(base, name);
    else if (p.startsWith(`${base}/`)) entry.path = name + p.slice(base.length);
  };
  return toReadable(tar.c({ cwd: dirname(abs), portable: true, follow: !!options.follow, onWriteEntry }, [base]));
}

export interface ExtractOptions {
  /** Path components to drop from each entry (1 = unpack the contents of the top entry). */
  strip?: number;
  /**
   * Problems are reported here: `refused` entries were not written (path escapes, links through
   * symlinks, device nodes); the others were written with a fix (a stripped leading `/`).
   */
  onWarning?: (message: string, refused: boolean) => void;
  /** Replaces the first path component of every entry (the archive's top entry gets this name). */
  renameTop?: string;
  /** Hears the size of each regular file of the archive, as its header is read. */
  onFile?: (bytes: number) => void;
}

const ALLOWED_TYPES = new Set(["File", "OldFile", "ContiguousFile", "Directory", "SymbolicLink", "Link"]);

/** Unpacks a tar stream into `dir` (which must exist) without ever writing outside it. */
export function extractSafe(
  source: AsyncIterable<Uint8Array> | Readable,
  dir: string,
  options: ExtractOptions = {},
): Promise<void> {
  return new Promise<void>((resolvePromise, reject) => {
    const unpack = tar.x({
      cwd: resolve(dir),
      strip: options.strip ?? 0,
      // node-tar keeps archive owners by default when run as root; a sandbox must not pick the
      // owners of files on the host.
      preserveOwner: false,
      filter: (path, entry) => {
        if (!("type" in entry)) return true;
        if (!ALLOWED_TYPES.has(entry.type)) {
          options.onWarning?.(`${path}: ${entry.type} entries are not copied`, true);
          return false;
        }
        // A setuid binary from a sandbox must not become a setuid binary on the host.
        if (typeof entry.mode === "number") entry.mode &= 0o777;
        // Renaming happens before node-tar's path checks, so the checks see the final name.
        if (options.renameTop) entry.path = entry.path.replace(/^[^/]+/, options.renameTop);
        if (entry.type !== "Directory" && entry.type !== "SymbolicLink" && entry.type !== "Link")
          options.onFile?.(entry.size ?? 0);
        return true;
      },
      onwarn: (code, message, data) => {
        const entry = (data as { entry?: { path?: string; linkpath?: string } }).entry;
        const what = entry?.path ? `${entry.path}${entry.linkpath ? ` -> ${entry.linkpath}` : ""}: ` : "";
        options.onWarning?.(`${what}${String(message)}`, code !== "TAR_ENTRY_INFO");
      },
    });
    const input = source instanceof Readable ? source : Readable.from(source);
    let settled = false;
    const fail = (err: unknown) => {
      if (settled) return;
      settled = true;
      input.destroy();
      const code = (err as { code?: unknown }).code;
      if (code === "TAR_BAD_ARCHIVE" || code === "TAR_ABORT") {
        reject(
          new SbxError(
            "invalid_archive",
            `the archive is empty or not a tar (${err instanceof Error ? err.message : String(err)})`,
          ),
        );
      } else reject(err);
    };
    input.on("error", fail);
    unpack.on("error", fail);
    unpack.on("finish", () => {
      if (settled) return;
      settled = true;
      resolvePromise();
    });
    input.pipe(unpack);
  });
}

function toReadable(pack: tar.Pack): Readable {
  // node-tar's Pack is a Minipass stream; wrapping it gives undici and pipeline a real Readable.
  return Readable.from(pack as unknown as AsyncIterable<Buffer>);
}

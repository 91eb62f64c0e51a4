// A path in a sandbox as the SDK takes it: text, or bytes (a Uint8Array) for a name that is not
// UTF-8. Listings give such a name's bytes as `nameBase64`; `entryPath` joins one to its directory,
// and the file routes take bytes as `pathBase64`.
import type { FileInfo } from "@sbx-sh/protocol";

export type SandboxPath = string | Uint8Array;

/** The query that names `path`: `path` for text, `pathBase64` for bytes. */
export function pathQuery(path: SandboxPath): { path: string } | { pathBase64: string } {
  return typeof path === "string" ? { path } : { pathBase64: Buffer.from(path).toString("base64") };
}

/** The path for messages: the text, bytes that are not UTF-8 as U+FFFD. */
export function pathText(path: SandboxPath): string {
  return typeof path === "string" ? path : Buffer.from(path).toString("utf8");
}

/** The path of a listed entry of `dir`: text, or bytes when the entry's name is not UTF-8. */
export function entryPath(dir: SandboxPath, entry: Pick<FileInfo, "name" | "nameBase64">): SandboxPath {
  if (entry.nameBase64 === undefined && typeof dir === "string")
    return dir.endsWith("/") ? `${dir}${entry.name}` : `${dir}/${entry.name}`;
  const d = typeof dir === "string" ? Buffer.from(dir) : Buffer.from(dir);
  const name = entry.nameBase64 !== undefined ? Buffer.from(entry.nameBase64, "base64") : Buffer.from(entry.name);
  const slash = d.at(-1) === 0x2f ? [] : [Buffer.from("/")];
  return new Uint8Array(Buffer.concat([d, ...slash, name]));
}

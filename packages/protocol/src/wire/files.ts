// Files on the wire: directory listings of a sandbox's filesystem.

export interface FileInfo {
  /** The name as text; bytes that are not UTF-8 show as U+FFFD. */
  name: string;
  /** Only for a name that is not UTF-8: its bytes in base64 (address it with a Uint8Array path). */
  nameBase64?: string;
  type: "file" | "directory" | "symlink" | "other";
  size: number;
  mode: number;
  modifiedAt: string;
}

export interface DirectoryListing {
  path: string;
  entries: FileInfo[];
  /** Present when more entries follow: pass it as `cursor` to get the next page. */
  nextCursor?: string;
}

// Files on the wire: directory listings of a sandbox's filesystem.

export interface FileInfo {
  name: string;
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

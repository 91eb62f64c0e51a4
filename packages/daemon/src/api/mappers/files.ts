// Directory entries in sandboxes as the API describes them.
import type { FileInfo } from "@sbx-sh/protocol";
import type { FileEntry } from "../../domain/records.js";

export function toFileEntry(e: FileEntry): FileInfo {
  return { name: e.name, type: e.type, size: e.size, mode: e.mode, modifiedAt: e.modifiedAt };
}

// Directory entries in sandboxes as the API describes them.
import type { FileInfo } from "@sbx-sh/protocol";
import type { FileEntry } from "../../domain/records.js";
import { wireName } from "../../runtime/byte-names.js";

export function toFileEntry(e: FileEntry): FileInfo {
  // A name that is not UTF-8: text with U+FFFD, and its bytes in nameBase64 to address it by.
  return { ...wireName(e.name), type: e.type, size: e.size, mode: e.mode, modifiedAt: e.modifiedAt };
}

// The paths the runtime's file operations accept, checked the same way by every backend and by
// the file service before it asks: absolute, no NUL bytes, at most 4096 bytes.
import { SbxError } from "@sbx-sh/protocol";

export function assertSandboxPath(path: string): string {
  if (typeof path !== "string" || !path.startsWith("/"))
    throw new SbxError("invalid_path", `path ${JSON.stringify(path)} must be absolute, e.g. /work/file.txt`);
  if (path.includes("\0")) throw new SbxError("invalid_path", "path must not contain NUL bytes");
  if (path.length > 4096) throw new SbxError("invalid_path", "path is longer than 4096 bytes");
  return path;
}

// The errors of the runtime's file operations, worded once for every backend (the crun one reads
// them from its scripts' exit codes; the fake raises them itself), so clients see the same answer
// whichever runtime serves them.
import { SbxError } from "@sbx-sh/protocol";

/** readFile answers in one buffer; bigger files go through the archive download, which streams. */
export const MAX_READ_BYTES = 256 * 1024 * 1024;

const MIB = `${MAX_READ_BYTES / 1024 / 1024} MiB`;

/** Whether a tool's stderr says the disk (or the sandbox's quota) was full. */
export function saysNoSpace(stderr: string): boolean {
  return /No space left on device|Disk quota exceeded/.test(stderr);
}

export const fileErrors = {
  notFound: (path: string) => new SbxError("file_not_found", `${path} does not exist in the sandbox`),
  notADirectory: (path: string) => new SbxError("invalid_path", `${path} is not a directory`),
  isADirectory: (path: string) =>
    new SbxError("invalid_path", `${path} is a directory: use listDirectory or download it as an archive`),
  notRegular: (path: string) =>
    new SbxError("invalid_path", `${path} is not a regular file (a device, fifo or socket)`),
  tooLarge: (path: string) =>
    new SbxError(
      "payload_too_large",
      `${path} is larger than ${MIB}: download it as an archive (GET .../archive, \`sbx cp\`), which streams`,
    ),
  outputTooLarge: (path: string) =>
    new SbxError(
      "payload_too_large",
      `${path} produced more than ${MIB}: download it as an archive (GET .../archive, \`sbx cp\`), which streams`,
    ),
  symlinkLoop: (path: string) =>
    new SbxError("invalid_path", `${path} goes through a symbolic link loop (too many levels of symbolic links)`),
  noSpace: (path: string) =>
    new SbxError(
      "no_space",
      `writing ${path} filled the sandbox's disk: nothing was kept; free space or use a bigger disk`,
    ),
  /** tar unpacks in place: what it wrote before the disk was full is there (unlike a single file's write). */
  unpackNoSpace: (dir: string) =>
    new SbxError(
      "no_space",
      `unpacking into ${dir} filled the sandbox's disk: the files unpacked before it stay; free space or use a bigger disk`,
    ),
  /** The kernel refuses to read it (EIO, EPERM): the path the caller gave, not a failure of ours. */
  unreadable: (path: string, detail: string) =>
    // detail is the agent's "read <path>: <strerror>": the reason alone.
    new SbxError("invalid_path", `${path} cannot be read in the sandbox: ${detail.split(": ").at(-1) || "refused"}`),
  rootRefused: () => new SbxError("invalid_path", "refusing to delete /"),
  failed: (path: string, detail: string) =>
    new SbxError("runtime_error", `file operation on ${path} failed: ${detail}`),
};

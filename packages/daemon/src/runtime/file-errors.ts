// The errors of the runtime's file operations, worded once for every backend (the crun one reads
// them from its scripts' exit codes; the fake raises them itself), so clients see the same answer
// whichever runtime serves them.
import { SbxError } from "@sbx-sh/protocol";

/** Most bytes a read held whole may have (the busybox fallback of sandbox-files.ts). */
export const MAX_READ_BYTES = 256 * 1024 * 1024;
/**
 * Most bytes a streamed read gives of a file whose size is not known up front (/proc, /sys: they
 * say 0 or 4096, and /proc/self/pagemap gives 256 GiB). A file of known size streams whole.
 */
export const MAX_UNSIZED_READ_BYTES = MAX_READ_BYTES;

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
      `${path} produced more than ${MIB} without saying so up front (a /proc or /sys file, or one that grew): the read was stopped there`,
    ),
  /** A file shorter at its end than when its read began: its bytes so far are not the file. */
  shrank: (path: string) =>
    new SbxError("runtime_error", `${path} shrank while it was read: read it again once it stops changing`),
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

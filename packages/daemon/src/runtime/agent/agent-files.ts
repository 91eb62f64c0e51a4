// File operations through sbx-agent (protocol version 2): each one is a child of the agent binary
// (`/.sbx/agent file <op> <path>`, packages/daemon/agent/files.inc.c) or of the sandbox's busybox tar,
// started like a build step with its data on stdin/stdout. They run in the sandbox's own root, so
// symlinks and `..` resolve there. What comes back is hostile input: reads and archives stream
// with backpressure (./agent-stream.ts), a read of unknown size stops at MAX_UNSIZED_READ_BYTES;
// exit codes map to coded errors. Directory listings are not here: they are paged
// in the sandbox by busybox (../sandbox-files.ts), which a huge directory costs the sandbox, not us.
import { randomBytes } from "node:crypto";
import type { Readable } from "node:stream";
import { SbxError } from "@sbx-sh/protocol";
import type { FileContent } from "../file-content.js";
import { fileErrors, MAX_UNSIZED_READ_BYTES, saysNoSpace } from "../file-errors.js";
import { nameToBytes } from "../byte-names.js";
import { assertSandboxPath } from "../sandbox-path.js";
import { spool } from "../spool.js";
import { HELPER_BUSYBOX } from "../types.js";
import { AgentRequestError, type AgentClient } from "./agent-client.js";
import { AGENT_PATH } from "./agent-mounts.js";
import { exitOf } from "./agent-process.js";
import { MAX_FRAME, START_FLAGS, encode } from "./agent-protocol.js";
import { streamOut } from "./agent-stream.js";

/** The first protocol version whose agent serves file operations. */
export const FILES_VERSION = 2;
/** The first whose agent has `file stream` (the size first). */
const STREAM_VERSION = 3;
const SIZE_BYTES = 8;
const MAX_STDERR = 4096;
/**
 * Bytes per stdin request: as much as a frame holds (room left for its header and the process id).
 * The agent takes one stdin write per process at a time and answers it once written, so each
 * request is a round trip: 64 KiB requests made a 10 MiB write 160 of them.
 */
const STDIN_CHUNK = MAX_FRAME - 4096;
const ENV = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"];

/** Exit codes of files.inc.c. */
const FX = {
  notDir: 20,
  notFound: 21,
  isDir: 22,
  tooLarge: 23,
  notRegular: 24,
  loop: 25,
  noSpace: 26,
  unreadable: 28,
  shrank: 29,
} as const;

interface OpOptions {
  input?: Readable;
  onStdout?: (data: Buffer) => void;
  /** Called once the agent has started the operation (the process id, to signal it). */
  onStarted?: (procId: string) => void;
}

export class AgentFiles {
  constructor(
    /** The sandbox's shared connection. */
    private readonly client: (id: string) => Promise<AgentClient>,
    /** A connection of its own (a streamed download pauses it while its consumer is slow). */
    private readonly fresh: (id: string) => Promise<AgentClient>,
    private readonly spoolDir: (id: string) => string,
  ) {}

  /** Runs argv as the sandbox's root; resolves with the exit code and the start of stderr. */
  private async op(c: AgentClient, sandboxId: string, argv: string[], o: OpOptions = {}) {
    const procId = `file-${randomBytes(8).toString("hex")}`;
    const exit = exitOf(c, procId);
    let stderr = "";
    c.onOutput(procId, (stream, data) => {
      if (stream === "stdout") o.onStdout?.(data);
      else if (stderr.length < MAX_STDERR) stderr += data.toString("utf8").slice(0, MAX_STDERR - stderr.length);
    });
    try {
      const flags = START_FLAGS.stream | (o.input ? START_FLAGS.stdin : 0);
      // A path may name a file whose name is not UTF-8 (./byte-names.ts): it goes as its bytes.
      const bytes = argv.map(nameToBytes);
      await c.request((q) => encode.start(q, { id: procId, uid: 0, gid: 0, cwd: "/", argv: bytes, env: ENV, flags }));
      o.onStarted?.(procId);
      if (o.input) await feed(c, procId, o.input);
      const code = await exit.outcome;
      if (code === "lost" || code === null)
        throw c.failed ?? new SbxError("agent_unreachable", `the agent of sandbox ${sandboxId} lost a file operation`);
      return { code, stderr: stderr.trim() };
    } catch (err) {
      exit.cancel();
      if (err instanceof AgentRequestError)
        throw new SbxError("runtime_error", `file operation failed: ${err.message}`);
      throw err;
    } finally {
      c.onOutput(procId, undefined);
    }
  }

  private async file(id: string, path: string, args: string[], o: OpOptions = {}): Promise<void> {
    const r = await this.op(await this.client(id), id, [AGENT_PATH, "file", args[0]!, path, ...args.slice(1)], o);
    check(path, r.code, r.stderr);
  }

  /**
   * The file's bytes as they are read, on a connection of its own (./agent-stream.ts): the daemon
   * holds a few chunks, whatever the size. Answers once the read has begun, so a missing or
   * unreadable file is still a coded error; `signal` (the caller left) stops it before that.
   */
  async read(id: string, path: string, signal?: AbortSignal): Promise<FileContent> {
    assertSandboxPath(path);
    signal?.throwIfAborted();
    const c = await this.fresh(id);
    // A version 2 agent (a sandbox started before an upgrade) has `read`: no size, at most the cap.
    const sized = c.version >= STREAM_VERSION;
    const argv = [AGENT_PATH, "file", sized ? "stream" : "read", path, String(MAX_UNSIZED_READ_BYTES)];
    return streamOut(
      c,
      (hooks) => this.op(c, id, argv, hooks),
      (r) => check(path, r.code, r.stderr),
      {
        what: `the read of ${path}`,
        headBytes: sized ? SIZE_BYTES : 0,
        sizeOf: announcedSize,
        cap: { bytes: MAX_UNSIZED_READ_BYTES, tooMuch: () => fileErrors.outputTooLarge(path) },
        signal,
      },
    );
  }

  async write(id: string, path: string, data: Readable): Promise<void> {
    assertSandboxPath(path);
    const upload = await spool(data, this.spoolDir(id));
    try {
      await this.file(id, path, ["write"], { input: upload.open() });
    } finally {
      await upload.release();
    }
  }

  async remove(id: string, path: string, recursive: boolean): Promise<void> {
    assertSandboxPath(path);
    if (path.replace(/\/+$/, "") === "") throw fileErrors.rootRefused();
    await this.file(id, path, ["delete", recursive ? "1" : "0"]);
  }

  /** Unpacks a tar or tar.gz into `dir` (made if missing) with the sandbox's busybox, once it has fully arrived. */
  async extractArchive(id: string, dir: string, archive: Readable): Promise<void> {
    assertSandboxPath(dir);
    const upload = await spool(archive, this.spoolDir(id));
    try {
      const gzip = upload.head.length > 2 && upload.head[0] === 0x1f && upload.head[1] === 0x8b;
      const script = `[ -e "$1" ] && [ ! -d "$1" ] && exit ${FX.notDir}; mkdir -p -- "$1" && exec tar -x${gzip ? "z" : ""}o -C "$1" -f -`;
      const r = await this.op(await this.client(id), id, [HELPER_BUSYBOX, "sh", "-c", script, "sh", dir], {
        input: upload.open(),
      });
      // busybox tar says ENOSPC only in its message: the sandbox's full disk, not a failure of ours.
      if (r.code !== 0 && saysNoSpace(r.stderr)) throw fileErrors.unpackNoSpace(dir);
      check(dir, r.code, r.stderr);
    } finally {
      await upload.release();
    }
  }

  /** Streams a tar of `path`; resolves once it has started (a missing path is still a clean 404). */
  async createArchive(id: string, path: string): Promise<Readable> {
    assertSandboxPath(path);
    const c = await this.fresh(id);
    const script = `[ -e "$1" ] || [ -L "$1" ] || exit ${FX.notFound}; cd -- "$(dirname -- "$1")" && exec tar -c -f - -- "$(basename -- "$1")"`;
    const argv = [HELPER_BUSYBOX, "sh", "-c", script, "sh", path];
    const archive = await streamOut(
      c,
      (hooks) => this.op(c, id, argv, hooks),
      (r) => check(path, r.code, r.stderr),
      { what: `the archive of ${path}` },
    );
    return archive.stream;
  }
}

/** The `stream` op's header: u64 big-endian, all ones when the size is not known (files.inc.c). */
function announcedSize(head: Buffer): number | undefined {
  const n = head.readBigUInt64BE(0);
  // Past MAX_SAFE_INTEGER a size cannot be counted exactly: treated as not known (the cap then holds).
  return n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : undefined;
}

/** Sends `input` as the process's stdin, one acknowledged chunk at a time (the agent's backpressure). */
async function feed(c: AgentClient, procId: string, input: Readable): Promise<void> {
  const send = (data: Buffer) => c.request((q) => encode.stdin(q, procId, data));
  try {
    // The input's chunks (64 KiB from a file or a socket) gathered into requests of STDIN_CHUNK.
    let held: Buffer[] = [];
    let heldBytes = 0;
    for await (const chunk of input as AsyncIterable<Buffer>) {
      held.push(chunk);
      heldBytes += chunk.length;
      if (heldBytes < STDIN_CHUNK) continue;
      const all = Buffer.concat(held, heldBytes);
      let off = 0;
      for (; all.length - off >= STDIN_CHUNK; off += STDIN_CHUNK) await send(all.subarray(off, off + STDIN_CHUNK));
      held = off < all.length ? [all.subarray(off)] : [];
      heldBytes = all.length - off;
    }
    if (heldBytes > 0) await send(Buffer.concat(held, heldBytes));
    await c.request((q) => encode.eof(q, procId));
  } catch (err) {
    // The operation ended early (a full disk, a missing directory): its exit code says why.
    if (!(err instanceof AgentRequestError)) throw err;
  } finally {
    input.destroy();
  }
}

function check(path: string, code: number, stderr: string): void {
  if (code === 0) return;
  if (code === FX.notFound) throw fileErrors.notFound(path);
  if (code === FX.notDir) throw fileErrors.notADirectory(path);
  if (code === FX.isDir) throw fileErrors.isADirectory(path);
  if (code === FX.notRegular) throw fileErrors.notRegular(path);
  if (code === FX.tooLarge) throw fileErrors.tooLarge(path);
  if (code === FX.loop) throw fileErrors.symlinkLoop(path);
  if (code === FX.noSpace) throw fileErrors.noSpace(path);
  if (code === FX.unreadable) throw fileErrors.unreadable(path, stderr);
  if (code === FX.shrank) throw fileErrors.shrank(path);
  throw fileErrors.failed(path, stderr || `exit ${code}`);
}

// A layer's gzip made by a program instead of zlib in the daemon (runtime/deflate-helper.ts starts
// sbx-deflate, libdeflate on several threads: about 40% less CPU than zlib's level 1 for a smaller
// blob). The daemon writes the uncompressed tar to the program's stdin and hashes it on the way
// (the diff id), and the program's stdout goes to the blob's sink as it comes, so nothing is read
// twice. The program's output is hostile only in size, which the sink bounds; a program that fails
// or exits early is an error, never a short blob.
import { createHash } from "node:crypto";
import type { Readable, Writable } from "node:stream";
import { SbxError } from "@sbx-sh/protocol";

/** A running compression: gzip of stdin on stdout. */
export interface GzipProcess {
  stdin: Writable;
  stdout: Readable | null;
  /** Settles at exit: the exit code (128 when killed) and the end of stderr; rejects if it cannot start. */
  done: Promise<{ code: number; stderr: string }>;
  kill(): void;
}

/** A gzip program the daemon may use for layer blobs (injected: only runtime/ starts programs). */
export interface GzipProgram {
  /** Everything the output bytes depend on (program framing, library version, level, block size): in blob keys. */
  readonly id: string;
  start(): GzipProcess;
}

/** Input is handed to the program in pieces of this size: one write and one hash update each. */
const STAGE_BYTES = 256 << 10;

/** Same shape as GzipBlocks: write() (await what it returns), end() once for the input's sha256, or close(). */
export class ProgramGzip {
  private readonly proc: GzipProcess;
  private readonly input = createHash("sha256");
  private stage: Buffer = Buffer.allocUnsafe(STAGE_BYTES);
  /**
   * Stages whose write completed, for reuse: a new 256 KiB Buffer per flush was ~130 MB of external
   * memory per export, and V8 answers such growth with full GCs, which mark the daemon's whole heap
   * (measured in the bench's daemon: 300-500 ms of GC-thread CPU per export, on two cores).
   */
  private readonly spare: Buffer[] = [];
  private fill = 0;
  private failure: unknown;
  /** Settles when the program exited and its output is all emitted; rejects with the reason it failed. */
  private readonly finished: Promise<void>;

  constructor(
    program: GzipProgram,
    /** Takes the output in order; a returned promise pauses the program's output until it settles. */
    emit: (b: Buffer) => Promise<void> | undefined,
  ) {
    const proc = (this.proc = program.start());
    const out = proc.stdout!;
    const drained = new Promise<void>((resolve, reject) => {
      out.on("data", (b: Buffer) => {
        if (this.failure) return;
        let wait: Promise<void> | undefined;
        try {
          wait = emit(b);
        } catch (err) {
          return this.fail(err);
        }
        if (!wait) return;
        out.pause();
        wait.then(
          () => out.resume(),
          (err: unknown) => this.fail(err),
        );
      });
      out.on("end", resolve);
      out.on("error", reject);
      out.on("close", () => reject(new Error("the output closed before its end")));
    });
    this.finished = (async () => {
      const [{ code, stderr }] = await Promise.all([proc.done, drained]);
      if (this.failure) throw this.failure;
      if (code !== 0) {
        const why = stderr.trim().split("\n").at(-1) || "no message";
        throw new SbxError("runtime_error", `layer compression failed (exit ${code}): ${why}`);
      }
    })();
    this.finished.catch(() => undefined); // awaited by end(), or raced by a write that waits
  }

  /** Takes a chunk (copied: the caller may reuse it); a returned promise asks the caller to wait. */
  write(chunk: Buffer): Promise<void> | undefined {
    let at = 0;
    while (at < chunk.length) {
      const n = chunk.copy(this.stage, this.fill, at);
      this.fill += n;
      at += n;
      if (this.fill === STAGE_BYTES) {
        const wait = this.flush();
        if (wait) {
          const rest = chunk.subarray(at);
          return rest.length > 0 ? wait.then(() => this.write(rest)) : wait;
        }
      }
    }
    return undefined;
  }

  /** Ends the input and waits for the program; returns the input's sha256 (hex). */
  async end(): Promise<string> {
    const wait = this.flush();
    if (wait) await wait;
    this.proc.stdin.end();
    await this.finished;
    return this.input.digest("hex");
  }

  /** Gives up: the program is killed (safe after end() too). */
  async close(): Promise<void> {
    this.proc.kill();
    await this.proc.done.catch(() => undefined);
  }

  private fail(err: unknown): void {
    this.failure ??= err;
    this.proc.kill();
  }

  /** Hands the staged bytes over; a promise when the program's stdin is full. */
  private flush(): Promise<void> | undefined {
    if (this.failure) return Promise.reject(this.failure);
    if (this.fill === 0) return undefined;
    const stage = this.stage;
    const piece = this.fill === STAGE_BYTES ? stage : stage.subarray(0, this.fill);
    this.input.update(piece);
    this.stage = this.spare.pop() ?? Buffer.allocUnsafe(STAGE_BYTES);
    this.fill = 0;
    // Reused once written (the callback comes when the bytes are in the kernel, or on failure, when
    // nothing reads them any more). Writes wait for a drain, so few stages are ever in flight.
    if (this.proc.stdin.write(piece, () => this.spare.push(stage))) return undefined;
    const stdin = this.proc.stdin;
    return new Promise<void>((resolve, reject) => {
      const onDrain = (): void => resolve();
      stdin.once("drain", onDrain);
      // A program that died does not drain: its end (or its failure) settles the wait instead.
      this.finished.then(
        () => reject(new SbxError("runtime_error", "layer compression ended before its input")),
        (err: unknown) => {
          stdin.off("drain", onDrain);
          reject(err);
        },
      );
    });
  }
}

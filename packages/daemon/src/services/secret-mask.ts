// Masking a sandbox's secret values in the output the daemon hands out (process output, streamed
// or read back as logs): a program that prints its token shows `***`, as CI logs do. The output is
// a byte stream cut into chunks anywhere, so a value split across chunks is masked too: the tail
// of a chunk that could be the start of a value is held back until the next chunk tells.
// Values shorter than MIN_MASKED_LENGTH are not masked: masking "1" would mangle every output.
import type { ProcessOutputEvent } from "../domain/records.js";

export const MASK = "***";
export const MIN_MASKED_LENGTH = 4;
const MASK_BYTES = Buffer.from(MASK);

/** One byte stream's masker: push chunks in order, flush at the stream's end. */
export class SecretMasker {
  private readonly values: Buffer[];
  private readonly longest: number;
  private pending = Buffer.alloc(0);

  constructor(values: Iterable<string>) {
    const unique = new Set([...values].filter((v) => v.length >= MIN_MASKED_LENGTH));
    // Longest first, so a value that contains another is masked whole.
    this.values = [...unique].map((v) => Buffer.from(v)).sort((a, b) => b.length - a.length);
    this.longest = this.values[0]?.length ?? 0;
  }

  get active(): boolean {
    return this.values.length > 0;
  }

  /** The part of `chunk` (after what was held back) that can be handed out now, masked. */
  push(chunk: Buffer): Buffer {
    if (!this.active) return chunk;
    return this.scan(this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk, false);
  }

  /** What was held back, masked, at the end of the stream. */
  flush(): Buffer {
    return this.scan(this.pending, true);
  }

  /** Masks the values in `buf`; unless `final`, keeps back a tail that could begin one. */
  private scan(buf: Buffer, final: boolean): Buffer {
    const out: Buffer[] = [];
    let i = 0;
    let hold = -1;
    for (;;) {
      let at = -1;
      let len = 0;
      for (const v of this.values) {
        const j = buf.indexOf(v, i);
        if (j !== -1 && (at === -1 || j < at)) [at, len] = [j, v.length];
      }
      if (at === -1) break;
      // A longer value may start here and go on in the next chunk: wait for it.
      if (!final && this.isPartial(buf.subarray(at))) {
        hold = buf.length - at;
        break;
      }
      out.push(buf.subarray(i, at), MASK_BYTES);
      i = at + len;
    }
    if (hold < 0) hold = final ? 0 : this.partialTail(buf, i);
    out.push(buf.subarray(i, buf.length - hold));
    this.pending = Buffer.from(buf.subarray(buf.length - hold));
    return Buffer.concat(out);
  }

  /** The length of the longest tail of buf[from..] that is a proper prefix of some value. */
  private partialTail(buf: Buffer, from: number): number {
    for (let n = Math.min(this.longest - 1, buf.length - from); n > 0; n--)
      if (this.isPartial(buf.subarray(buf.length - n))) return n;
    return 0;
  }

  /** Whether `tail` is a proper prefix of some value (so more bytes could complete it). */
  private isPartial(tail: Buffer): boolean {
    return this.values.some((v) => v.length > tail.length && v.subarray(0, tail.length).equals(tail));
  }
}

/**
 * A process's output events with `values` masked in stdout and stderr. Held-back bytes are handed
 * out before the exit event; a read that ends before the exit (a running process's log) leaves
 * out a trailing fragment that could be the start of a value, which the next read shows.
 */
export async function* maskOutput(
  events: AsyncIterable<ProcessOutputEvent>,
  values: Iterable<string>,
): AsyncGenerator<ProcessOutputEvent> {
  const maskers = { stdout: new SecretMasker(values), stderr: new SecretMasker(values) };
  if (!maskers.stdout.active) return yield* events;
  for await (const e of events) {
    if (e.type === "exit") {
      for (const type of ["stdout", "stderr"] as const) {
        const rest = maskers[type].flush();
        if (rest.length) yield { type, data: rest.toString("base64") };
      }
      yield e;
      continue;
    }
    const masked = maskers[e.type].push(Buffer.from(e.data, "base64"));
    if (masked.length) yield { type: e.type, data: masked.toString("base64") };
  }
}

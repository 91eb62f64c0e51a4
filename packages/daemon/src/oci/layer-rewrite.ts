// The export's tar rewrite, done synchronously chunk by chunk: GNU tar's stream of an sbx layer dir
// goes in, the OCI form of each entry comes out (whiteouts, opaque markers, container ids: see
// whiteouts.ts). File data is passed through as slices of the input, never copied entry by entry
// through async iterators (which cost more than the compression on a 130 MB rootfs).
import { SbxError } from "@sbx-sh/protocol";
import { applyMeta, decodeHeader, padded, type TarMeta } from "./tar.js";
import { encodeHeader, padding, TAR_END } from "./tar-write.js";
import { overlayToOci } from "./whiteouts.js";

type State =
  | { at: "header" }
  | { at: "meta"; flag: "x" | "g" | "L" | "K"; size: number; need: number }
  | { at: "body"; remain: number; pad: number; size: number; keep: boolean }
  | { at: "done" };

export class OciLayerRewrite {
  private state: State = { at: "header" };
  private readonly meta: TarMeta = { pax: {} };
  /** Bytes of a header or metadata entry cut by a chunk boundary. */
  private partial: Buffer[] = [];
  private partialLen = 0;
  /** Input bytes the last take() used. */
  private consumed = 0;

  constructor(private readonly uidBase: number) {}

  /**
   * The OCI tar bytes for this piece of input (possibly none): views of `chunk` among them, valid
   * as long as it is. Nothing of `chunk` is kept after the call, so it may be reused then.
   */
  write(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let i = 0;
    while (i < chunk.length) {
      const s = this.state;
      if (s.at === "done") break; // tar's padding after the end marker
      if (s.at === "body") {
        const n = Math.min(s.remain, chunk.length - i);
        if (n > 0) {
          if (s.keep) out.push(chunk.subarray(i, i + n));
          s.remain -= n;
          i += n;
        }
        if (s.remain === 0) {
          const p = Math.min(s.pad, chunk.length - i);
          s.pad -= p;
          i += p;
          if (s.pad === 0) {
            if (s.keep && s.size % 512) out.push(padding(s.size));
            this.state = { at: "header" };
          }
        }
        continue;
      }
      const need = s.at === "header" ? 512 : s.need;
      const block = this.take(chunk, i, need);
      i += this.consumed;
      if (!block) break;
      if (s.at === "meta") {
        // Copied: the pax values stay in `meta` until the next entry, and the input may be reused.
        applyMeta(s.flag, Buffer.from(block.subarray(0, s.size)), this.meta);
        this.state = { at: "header" };
        continue;
      }
      this.header(block, out);
    }
    return out;
  }

  /** Whether the input held a whole archive (its end marker was reached). */
  end(): void {
    if (this.state.at !== "done") throw new SbxError("runtime_error", "the layer's tar stream ended early");
  }

  private header(block: Buffer, out: Buffer[]): void {
    const d = decodeHeader(block, this.meta);
    if (d.kind === "end") {
      out.push(TAR_END);
      this.state = { at: "done" };
      return;
    }
    if (d.kind === "meta") {
      this.state = { at: "meta", flag: d.flag, size: d.size, need: padded(d.size) };
      if (d.size === 0) this.state = { at: "header" };
      return;
    }
    const h = d.header;
    const size = h.type === "file" ? h.size : 0;
    const entries = overlayToOci(h, this.uidBase);
    for (const o of entries) out.push(encodeHeader(o));
    // A regular file maps to exactly one entry of the same size; its data follows as it came.
    const keep = entries.length > 0;
    if (size > 0) this.state = { at: "body", remain: size, pad: padded(size) - size, size, keep };
  }

  /**
   * `need` bytes starting at chunk[i], joined with what earlier chunks left; undefined (and the
   * rest kept) when the chunk ends first. The caller advances i by what this consumed.
   */
  private take(chunk: Buffer, i: number, need: number): Buffer | undefined {
    const missing = need - this.partialLen;
    if (this.partialLen === 0 && chunk.length - i >= need) {
      this.consumed = need;
      return chunk.subarray(i, i + need);
    }
    const n = Math.min(missing, chunk.length - i);
    this.partial.push(Buffer.from(chunk.subarray(i, i + n))); // a copy: the caller may reuse `chunk`
    this.partialLen += n;
    this.consumed = n;
    if (this.partialLen < need) return undefined;
    const all = Buffer.concat(this.partial, need);
    this.partial = [];
    this.partialLen = 0;
    return all;
  }
}

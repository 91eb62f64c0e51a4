// The two forms an archive export is sent in. The archive's body yields pieces: bytes, and (for a
// layer streamed before its size and digest are known) a hole for its tar header, filled or cut
// back later. The plain form is the bytes alone (it never has holes); the patched form frames
// them as @sbx-sh/protocol's patched-tar records, and ends with a failure record instead of a cut
// stream when the export fails part way.
import { PatchedTarEncoder, toSbxError } from "@sbx-sh/protocol";

/** A reserved tar header, named by identity. */
export class Hole {}

export type Piece = Buffer | { hole: Hole } | { fill: Hole; header: Buffer } | { cut: Hole };

/** The plain OCI tar: the pieces' bytes. */
export async function* plainForm(pieces: AsyncIterable<Piece>): AsyncGenerator<Buffer> {
  for await (const p of pieces) {
    if (!Buffer.isBuffer(p)) throw new Error("a header hole in the plain export form");
    yield p;
  }
}

/** The patched form: records that a writer with a seekable output turns into the plain form's bytes. */
export async function* patchedForm(pieces: AsyncIterable<Piece>): AsyncGenerator<Buffer> {
  const e = new PatchedTarEncoder();
  const at = new Map<Hole, number>();
  yield e.start();
  try {
    for await (const p of pieces) {
      if (Buffer.isBuffer(p)) yield* e.data(p);
      else if ("hole" in p) {
        const h = e.hole();
        at.set(p.hole, h.offset);
        yield h.record;
      } else if ("fill" in p) yield e.fill(at.get(p.fill)!, p.header);
      else yield e.cut(at.get(p.cut)!);
    }
  } catch (err) {
    // The client learns why (a cut stream only says that it was cut) and keeps no partial file.
    yield e.error(toSbxError(err));
    return;
  }
  yield e.end();
}

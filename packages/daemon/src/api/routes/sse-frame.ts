// One event as a server-sent-events message (its `id:` and `data:` lines), serialised once: the bus
// hands every follower the same event object at the same moment, and a JSON.stringify and an
// encode per follower was per-event work that grew with the number of followers, on the thread
// that also serves creates. The memo keeps the frames of the last MEMO events only (oldest out
// first), so it holds a bounded amount whatever the followers do; an older event (a resuming
// client's replay) is serialised again.
import type { SbxEvent } from "@sbx-sh/protocol";

const MEMO = 256;
const memo = new Map<SbxEvent, Uint8Array>();
const encoder = new TextEncoder();

export function sseFrame(e: SbxEvent): Uint8Array {
  let frame = memo.get(e);
  if (frame) return frame;
  // Its own buffer (not Buffer.from's shared pool): a kept frame must not pin a pool slab.
  frame = encoder.encode(`id: ${e.id}\ndata: ${JSON.stringify(e)}\n\n`);
  memo.set(e, frame);
  if (memo.size > MEMO) memo.delete(memo.keys().next().value!);
  return frame;
}

/** Frames the memo holds now (tests: it stays bounded). */
export function sseFramesKept(): number {
  return memo.size;
}

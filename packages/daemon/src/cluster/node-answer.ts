// A node's answer written straight into the caller's connection: the control plane's way back for
// a forwarded call. The head goes out with the first bytes of the body (not in a write of its own),
// each chunk as it comes, the node paused while the caller is behind; no web Response, stream or
// reader loop in between. On this machine kind every socket write that wakes a peer costs a
// fraction of a millisecond, so a forwarded `exec` that wrote its head, each NDJSON line and its
// end apart, through two stream layers, paid for it on every call.
import type { IncomingMessage, ServerResponse } from "node:http";
import { answerHeaders, emptyAnswer } from "./node-forward.js";
import { type NodeTarget } from "./node-target.js";

/**
 * Writes the node's answer `res` (to a `method` call) to the caller's `to`, with `head` added to
 * its headers. `onEnd` runs once when it ended, the node's side broke off (the caller's connection
 * is then destroyed: a broken stream, as the node's) or the caller went away (the node's side is dropped).
 */
export function pipeAnswer(
  t: NodeTarget,
  method: string,
  res: IncomingMessage,
  to: ServerResponse,
  head: Record<string, string>,
  onEnd?: () => void,
): void {
  let ended = false;
  const end = (): void => {
    if (ended) return;
    ended = true;
    onEnd?.();
  };
  to.writeHead(res.statusCode ?? 502, { ...answerHeaders(t, res), ...head });
  if (emptyAnswer(method, res)) {
    res.resume();
    end();
    to.end();
    return;
  }
  // Written corked until the loop's check phase: the node's last line and its end, which come in
  // one read, go out in one write (the end is only seen a tick after the line).
  let corked = false;
  const uncork = (): void => {
    corked = false;
    to.uncork();
  };
  res.on("data", (chunk: Buffer) => {
    // A destroyed answer still hands out what it had buffered: not to a caller that is gone.
    if (to.destroyed) return;
    if (!corked) {
      corked = true;
      to.cork();
      setImmediate(uncork);
    }
    if (!to.write(chunk)) res.pause();
  });
  to.on("drain", () => res.resume());
  res.once("end", () => {
    end();
    to.end();
  });
  res.once("close", () => {
    if (res.complete) return;
    end();
    to.destroy(new Error("the node's answer broke off"));
  });
  to.once("close", () => {
    if (to.writableFinished) return;
    end();
    res.destroy();
  });
}

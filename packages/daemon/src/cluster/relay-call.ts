// One exec relayed to a node on a raw socket (node-relay.ts): what the node's answer does to the
// caller's. The parsed head becomes the caller's (hop-by-hop headers dropped, the node named), the
// body is written on as it comes under backpressure (the node's socket paused while the caller's is
// full), and the socket goes back to the pool only when the answer ended exactly at its last byte.
// Anything else ends the call once: before the head, as a refusal the fast path answers; after
// it, as a broken stream for the caller. Either way the node's socket is destroyed, never reused.
import type { ServerResponse } from "node:http";
import { SbxError } from "@sbx-sh/protocol";
import { AnswerError, type AnswerHead, type AnswerParser, type AnswerSink } from "./answer-parser.js";
import { keyRefused, passedOn, unreachable, type NodeTarget } from "./node-target.js";
import type { NodeConn } from "./node-relay.js";

/** The caller's answer head from the node's: hop-by-hop dropped, the node named, `extra` added. */
export function callerHead(
  t: NodeTarget,
  head: AnswerHead,
  extra: Record<string, string>,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of head.headers) {
    if (!passedOn(k)) continue;
    const had = out[k];
    out[k] = had === undefined ? v : [had, v].flat();
  }
  out["x-sbx-node"] = t.node;
  return Object.assign(out, extra);
}

/** The error for a node's answer that broke framing or a bound. */
export function badAnswer(t: NodeTarget, err: AnswerError): SbxError {
  return new SbxError(
    "upstream_unreachable",
    `node ${t.node} (${t.address}) sent a malformed answer: ${err.message}`,
    { node: t.node, reason: "bad_answer" },
    { cause: err },
  );
}

/** Why a socket closed before the node's answer: unreachable if it never connected, else broken off. */
export function closedEarly(t: NodeTarget, connected: boolean, err: Error | undefined): SbxError {
  if (!connected) return unreachable(t, err?.message ?? "the connection closed", err);
  return new SbxError(
    "node_unavailable",
    `node ${t.node} (${t.address}) closed the connection before answering; the call was not sent again, it may or may not have run`,
    { node: t.node },
  );
}

/** A node that took the call and sent no answer head in time: like closedEarly, it may or may not have run. */
export function noAnswer(t: NodeTarget, ms: number): SbxError {
  return new SbxError(
    "node_unavailable",
    `node ${t.node} (${t.address}) sent no answer within ${ms / 1000} s; the call was not sent again, it may or may not have run`,
    { node: t.node, reason: "answer_timeout" },
  );
}

interface Settle {
  resolve(status: number): void;
  reject(err: Error): void;
  /** The answer ended cleanly at the end of the bytes read: the socket may carry another call. */
  reusable(head: AnswerHead): void;
}

export class RelayCall implements AnswerSink {
  parser: AnswerParser | undefined;
  unwatch: (() => void) | undefined;
  ended = false;
  private answer: AnswerHead | undefined;
  private complete = false;
  private corked = false;
  private headTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly t: NodeTarget,
    private readonly c: NodeConn,
    private readonly to: ServerResponse,
    private readonly extra: Record<string, string>,
    private readonly settle: Settle,
  ) {
    to.on("drain", this.onDrain);
    to.once("close", this.onCallerGone);
  }

  /** Fails the call if the node's answer head has not come within `ms` (from now: the call is written). */
  awaitHead(ms: number): void {
    if (this.ended || this.answer) return;
    this.headTimer = setTimeout(() => this.fail(noAnswer(this.t, ms)), ms).unref();
  }

  /** The node's bytes for this call. */
  onBytes(b: Buffer): void {
    try {
      this.parser!.push(b);
    } catch (err) {
      if (this.complete) this.c.socket.destroy();
      else this.fail(err instanceof AnswerError ? badAnswer(this.t, err) : (err as Error));
      return;
    }
    if (this.complete && this.c.call === this) {
      this.c.call = undefined;
      this.settle.reusable(this.answer!);
    }
  }

  /** The node's socket closed while it carried this call. */
  onClosed(err: Error | undefined): void {
    if (this.answer) this.fail(err ?? new Error(`node ${this.t.node} broke off its answer`));
    else this.fail(closedEarly(this.t, this.c.connected, err));
  }

  head(h: AnswerHead): void {
    if (this.ended) return;
    clearTimeout(this.headTimer);
    if (h.status === 401) return this.fail(keyRefused(this.t));
    // Answered only once the head is written: a head the caller's side refuses is a refusal, not a hang.
    this.to.writeHead(h.status, callerHead(this.t, h, this.extra));
    this.answer = h;
    this.settle.resolve(h.status);
  }

  data(chunk: Buffer): void {
    if (this.ended || this.to.destroyed) return;
    if (!this.corked) {
      // Written corked until the loop's check phase: a chunk and the answer's end that come in one
      // read go out in one write.
      this.corked = true;
      this.to.cork();
      setImmediate(this.uncork);
    }
    if (!this.to.write(chunk)) this.c.socket.pause();
  }

  done(): void {
    if (this.ended) return;
    this.finish();
    this.complete = true;
    this.to.end();
  }

  /** Ends the call: before the head, as a refusal for the caller; after it, a broken stream. */
  fail(err: Error): void {
    if (this.ended) return;
    this.finish();
    if (this.c.call === this) this.c.call = undefined;
    this.c.socket.destroy();
    if (this.answer) this.to.destroy(err);
    else this.settle.reject(err);
  }

  private finish(): void {
    this.ended = true;
    clearTimeout(this.headTimer);
    this.unwatch?.();
    this.to.off("drain", this.onDrain);
    this.to.off("close", this.onCallerGone);
  }

  private readonly uncork = (): void => {
    this.corked = false;
    this.to.uncork();
  };

  private readonly onDrain = (): void => {
    this.c.socket.resume();
  };

  private readonly onCallerGone = (): void => {
    if (!this.to.writableFinished) this.fail(new Error("the caller went away"));
  };
}

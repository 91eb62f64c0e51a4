// The room a suspend or resume forwarded to a node frees or takes on it (cluster/suspended-room.ts),
// for both of the control plane's APIs (api/cluster-calls.ts forwardCall serves sbx's routes and the
// Tensorlake-compatible ones alike). A resume takes its room back before the node is called (so two
// replicas never over-commit a node), and gives it back only when the node definitely did not resume:
// it answered with an error, or refused the control plane before taking the call (its TLS or key).
// An unknown outcome (no answer in time, the connection broken after the call went out, the node
// lost mid-call) keeps the room: the node may have resumed, and giving the room back would let new
// sandboxes over-commit the node until its next report. The report reconciles either way, once the
// placement is older than a lease: one the node lists as suspended gives its room back then. A
// suspend frees the room once the node answered it done; anything else leaves the room held.
import type { Placer } from "../cluster/placement.js";
import { toSbxError } from "@sbx-sh/protocol";

const SUSPEND_OR_RESUME = /\/sandboxes\/[^/?]+\/(suspend|resume)(?:\?|$)/;

/** Failures whose details say the node refused the call before taking it (node-target.ts). */
const REFUSED_BEFORE_CALL = new Set(["tls_verify_failed", "tls_handshake_failed", "node_key_refused"]);

export class SuspendRoom {
  private constructor(
    private readonly placer: Placer,
    private readonly sandbox: string,
    private readonly kind: "suspend" | "resume",
    /** Whether the resume took room back (false: the placement was not suspended). */
    private readonly took: boolean,
  ) {}

  /**
   * Before a call to `nodePath` (`sandbox`'s): a resume takes its room back, or throws
   * failed_precondition (no room on its node) changing nothing. Undefined: not a suspend or resume.
   */
  static async before(
    placer: Placer,
    method: string,
    nodePath: string,
    sandbox: string | undefined,
  ): Promise<SuspendRoom | undefined> {
    const kind = method === "POST" && sandbox ? SUSPEND_OR_RESUME.exec(nodePath)?.[1] : undefined;
    if (kind !== "suspend" && kind !== "resume") return undefined;
    const took = kind === "resume" ? await placer.resume(sandbox!) : false;
    return new SuspendRoom(placer, sandbox!, kind, took);
  }

  /** The node answered `status`: a suspend done frees the room; a resume refused gives back what it took. */
  async answered(status: number): Promise<void> {
    const ok = status >= 200 && status < 300;
    if ((this.kind === "suspend" && ok) || (this.took && !ok)) await this.placer.suspend(this.sandbox);
  }

  /** The call failed without an answer: a resume's room goes back only if the node refused it before taking it. */
  async failed(err: unknown): Promise<void> {
    const reason = (toSbxError(err).details as { reason?: unknown } | undefined)?.reason;
    if (this.took && typeof reason === "string" && REFUSED_BEFORE_CALL.has(reason))
      await this.placer.suspend(this.sandbox);
  }
}

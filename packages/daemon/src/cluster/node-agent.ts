// The node side of `sbxd --role node`: registers with the control plane using the node's
// credential, then renews its lease with a heartbeat every third of it, each time reporting
// capacity, usage and cached layers. A refused heartbeat because the lease ran out (412) makes it
// register again; a refused credential (401) is logged and retried slowly, never fatal: the node
// keeps serving its own sandboxes whatever the control plane says. Each answer carries the node's
// key for control → node calls (node-key.ts), which the node's TCP API then accepts; a refused
// credential drops it, so a revoked node's key stops opening even that node. A lease may name
// sandboxes the control plane gave up while this node was lost (given-up.ts), or never knew of
// (node-strays.ts): the node destroys them.
// Every call names this daemon's instance (node-instance.ts): a second daemon with the same
// credential is refused (409) instead of taking the node over.
import type { NodeLease, NodeReport } from "@sbx-sh/protocol";
import type { Logger } from "../common/log.js";
import { NODE_INSTANCE_HEADER, newNodeInstance } from "./node-instance.js";
import type { NodeKeys } from "./node-key.js";

export interface NodeAgentOptions {
  /** http(s)://host:port of the control plane. */
  control: string;
  token: string;
  report(): Promise<NodeReport>;
  /** Destroys sandboxes the control plane gave up; they leave the next report once ended. */
  destroy?(sandboxIds: string[]): Promise<void>;
  log: Logger;
  /** Where the key the control plane hands out is kept for the node's API. */
  keys: NodeKeys;
}

export class NodeAgent {
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private registered = false;
  /** Until the first lease says otherwise. */
  private intervalMs = 5000;
  /** This daemon's instance id: the control plane lets one daemon per credential hold the node. */
  private readonly instance = newNodeInstance();

  constructor(private readonly o: NodeAgentOptions) {}

  start(): void {
    void this.tick();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  private async tick(): Promise<void> {
    let next = this.intervalMs;
    try {
      const report = await this.o.report();
      const res = await this.post(this.registered ? "/cluster/v1/heartbeat" : "/cluster/v1/register", report);
      if (res.ok) {
        const lease = (await res.json()) as NodeLease;
        if (lease.nodeKey) this.o.keys.set(lease.nodeKey);
        else if (!this.o.keys.known)
          this.o.log.error(
            {},
            "the control plane sent no node key: it cannot call this node (is it older than this node?)",
          );
        if (!this.registered)
          this.o.log.info({ node: lease.name, control: this.o.control }, "registered with the control plane");
        this.registered = true;
        if (lease.destroy?.length) await this.reconcile(lease.destroy);
        this.intervalMs = next = Math.max(200, (lease.leaseSecs * 1000) / 3);
      } else {
        const body = await res.text();
        if (res.status === 412) {
          // Lost: register again; the answer names the sandboxes given up meanwhile.
          this.o.log.warn({ control: this.o.control }, "lease lost: registering again");
          this.registered = false;
          next = 0;
        } else {
          this.o.log.error({ status: res.status, body: body.slice(0, 300) }, "control plane refused this node");
          // Revoked or unknown: whoever still holds our key is not our control plane any more. Held by
          // another daemon (409, two daemons with one credential): that one is the node, not this one.
          if (res.status === 401 || res.status === 409) this.o.keys.clear();
          this.registered = false;
          next = Math.max(this.intervalMs, 10_000);
        }
      }
    } catch (err) {
      this.o.log.warn({ err: (err as Error).message, control: this.o.control }, "control plane unreachable");
    }
    if (!this.closed) {
      this.timer = setTimeout(() => void this.tick(), next);
      this.timer.unref();
    }
  }

  private async reconcile(ids: string[]): Promise<void> {
    this.o.log.warn(
      { sandboxes: ids },
      "the control plane gave these sandboxes up (or never placed them here): destroying them",
    );
    await this.o.destroy?.(ids);
  }

  private post(path: string, body: unknown): Promise<Response> {
    return fetch(new URL(path, this.o.control), {
      method: "POST",
      headers: {
        authorization: `Bearer ${this.o.token}`,
        "content-type": "application/json",
        [NODE_INSTANCE_HEADER]: this.instance,
      },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
  }
}

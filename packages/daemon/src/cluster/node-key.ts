// The credential of control → node calls: one key per node, so owning one node opens no other.
// The control plane derives a node's key as HMAC-SHA256(SBX_CLUSTER_SECRET, name + salt), where
// the salt is drawn at `sbx node add` (a node added again under an old name gets a new key); the
// secret never leaves the control plane, and the database holds only the salt. A node learns its
// key in the answer to its registration and heartbeats (authenticated by its node token), holds it
// in memory only, and accepts no other bearer; a node the control plane refuses (revoked) drops it.
import { createHash, createHmac, timingSafeEqual } from "node:crypto";

export const NODE_KEY_PREFIX = "sbxk_";

/** Keys derived so far: every forwarded call needs its node's, and a HMAC each time showed in profiles. */
const derived = new Map<string, string>();

/** The key of node `name` (salt from its row), as the control plane sends it to that node. */
export function deriveNodeKey(secret: string, name: string, salt: string): string {
  const id = `${secret}\0${name}\0${salt}`;
  let key = derived.get(id);
  if (key === undefined) {
    const mac = createHmac("sha256", secret).update(`sbx-node-key\0${name}\0${salt}`).digest("base64url");
    key = `${NODE_KEY_PREFIX}${mac}`;
    // A bound, not an LRU: a cluster has far fewer nodes (and salts) than this.
    if (derived.size >= 1024) derived.clear();
    derived.set(id, key);
  }
  return key;
}

const digest = (s: string): Buffer => createHash("sha256").update(s).digest();

/** A node's own key, as its TCP API checks callers against it. */
export class NodeKeys {
  private key: Buffer | null = null;

  /** The key the control plane gave in its last answer. */
  set(key: string): void {
    this.key = digest(key);
  }

  /** Refused by the control plane (revoked, unknown): no caller is the control plane any more. */
  clear(): void {
    this.key = null;
  }

  get known(): boolean {
    return this.key !== null;
  }

  /** Whether `presented` is this node's key; compared as digests, in constant time whatever the lengths. */
  matches(presented: string): boolean {
    return this.key !== null && timingSafeEqual(digest(presented), this.key);
  }
}

// Traversal for sandboxes, and no one else: the data dir and the sandboxes dir are 0700, and a
// POSIX ACL grants search (x, never read) to the root uid of each live sandbox's range, because
// crun resolves the sandbox's rootfs path after it has switched to the mapped uid. Host users get
// nothing. The ACL is rewritten whole from the live set (never read-modify-write), one write at a
// time, so concurrent creates cannot lose each other's entries.
import { runCommand } from "../common/command.js";
import { SbxError } from "@sbx-sh/protocol";

// posix_acl_xattr: a version header, then (tag, perm, id) entries sorted by tag then id.
const ACL_VERSION = 2;
const USER_OBJ = 0x01;
const USER = 0x02;
const GROUP_OBJ = 0x04;
const MASK = 0x10;
const OTHER = 0x20;
const UNDEFINED_ID = 0xffff_ffff;

/** The `system.posix_acl_access` value for rwx to the owner and x to each uid, nothing to others. */
export function traverseAclXattr(uids: number[]): Buffer {
  const sorted = [...new Set(uids)].sort((a, b) => a - b);
  const entries: Array<[number, number, number]> = [
    [USER_OBJ, 7, UNDEFINED_ID],
    ...sorted.map((u): [number, number, number] => [USER, 1, u]),
    [GROUP_OBJ, 0, UNDEFINED_ID],
    [MASK, sorted.length ? 1 : 0, UNDEFINED_ID],
    [OTHER, 0, UNDEFINED_ID],
  ];
  const buf = Buffer.alloc(4 + entries.length * 8);
  buf.writeUInt32LE(ACL_VERSION, 0);
  entries.forEach(([tag, perm, id], i) => {
    buf.writeUInt16LE(tag, 4 + i * 8);
    buf.writeUInt16LE(perm, 6 + i * 8);
    buf.writeUInt32LE(id, 8 + i * 8);
  });
  return buf;
}

export class TraverseAcl {
  private chain: Promise<void> = Promise.resolve();

  /** dirs: each a directory on the way to the sandboxes' rootfs mounts; live(): the uids to let through. */
  constructor(
    private readonly dirs: string[],
    private readonly live: () => number[],
  ) {}

  /** Rewrites the ACLs from the live set as it is when this write's turn comes. */
  sync(): Promise<void> {
    const next = this.chain.then(async () => {
      const value = "0x" + traverseAclXattr(this.live()).toString("hex");
      const r = await runCommand("setfattr", ["-n", "system.posix_acl_access", "-v", value, ...this.dirs]);
      if (r.code !== 0)
        throw new SbxError("runtime_error", `cannot set the sandboxes' traversal ACL: ${r.stderr.trim()}`);
    });
    this.chain = next.catch(() => undefined);
    return next;
  }
}

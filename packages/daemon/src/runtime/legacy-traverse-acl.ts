// An older daemon granted each live sandbox's root search (x) on the data and sandboxes dirs with
// one POSIX ACL entry per uid range. Sandboxes now need no traversal there (./bundle-paths.ts), so
// whatever such an ACL is left on those dirs is removed at start-up: back to plain 0700.
import { runCommand } from "../common/command.js";

/** Removes the access ACL from each dir; a dir without one is fine. Best effort: failures only leave the ACL. */
export async function dropTraverseAcl(dirs: string[]): Promise<void> {
  await Promise.all(
    dirs.map((d) => runCommand("setfattr", ["-x", "system.posix_acl_access", d]).catch(() => undefined)),
  );
}

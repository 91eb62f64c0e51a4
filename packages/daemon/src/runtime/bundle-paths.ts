// A sandbox's OCI config names its own files (rootfs, resolv.conf, agent and volume dirs, CA
// bundles) relative to its bundle dir. crun enters the bundle dir as host root, then resolves the
// rootfs and bind sources after it has switched to the sandbox's mapped uid: from that cwd, a
// relative path needs search permission on the sandbox's own dir only (0710, its root's group),
// never on the data dir or the sandboxes dir above it. Those stay 0700 with no ACL, so no other
// uid range or host user can pass them, and nothing on a shared dir grows with the number of
// live sandboxes (a per-range traversal ACL did, and ext4's one xattr block ran out at ~380).
import { isAbsolute, relative, sep } from "node:path";

/** `path` relative to `bundle` when it lies inside it (`.` for the bundle itself); unchanged otherwise. */
export function bundleRelative(bundle: string, path: string): string {
  if (!isAbsolute(path)) return path;
  const rel = relative(bundle, path);
  if (rel === "") return ".";
  if (rel === ".." || rel.startsWith(`..${sep}`) || isAbsolute(rel)) return path;
  return rel;
}

/**
 * The config with `root.path` and every bind mount's source that lies inside `bundle` made relative
 * to it. Host paths outside the bundle (the helper binaries) stay absolute: they are world-searchable.
 */
export function withBundleRelativePaths(config: Record<string, unknown>, bundle: string): Record<string, unknown> {
  const root = config.root as { path: string } | undefined;
  const mounts = config.mounts as Array<Record<string, unknown>> | undefined;
  return {
    ...config,
    ...(root ? { root: { ...root, path: bundleRelative(bundle, root.path) } } : {}),
    ...(mounts
      ? {
          mounts: mounts.map((m) =>
            m.type === "bind" && typeof m.source === "string" ? { ...m, source: bundleRelative(bundle, m.source) } : m,
          ),
        }
      : {}),
  };
}

// The layer FakeRuntime's sandboxes stand on unless a test registers others: the few files a
// POSIX base has that the runtime contract relies on (/etc/passwd and /etc/group for user names,
// /bin for the fake programs), so services and the conformance suite run on it without root.
import { dirNode, fileNode, type FakeTree } from "./fake-fs.js";

/** The lower dir name of the built-in base layer: `create({ lowers: [FAKE_BASE] })`. */
export const FAKE_BASE = "/fake/layers/base";

export function baseTree(programs: Iterable<string>): FakeTree {
  const t: FakeTree = new Map();
  for (const d of [
    "/bin",
    "/etc",
    "/home",
    "/root",
    "/tmp",
    "/usr",
    "/usr/bin",
    "/usr/local",
    "/usr/local/bin",
    "/var",
  ])
    t.set(d, dirNode(d === "/tmp" ? 0o1777 : d === "/root" ? 0o700 : 0o755));
  t.set(
    "/etc/passwd",
    fileNode(
      "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
    ),
  );
  t.set("/etc/group", fileNode("root:x:0:\napp:x:1000:\nnogroup:x:65534:\n"));
  t.set("/etc/hostname", fileNode("fake\n"));
  for (const p of programs) t.set(`/bin/${p}`, fileNode(`fake program ${p}\n`, 0o755));
  return t;
}

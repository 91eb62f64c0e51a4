// The builder's COPY/ADD script (build/copy-step.ts COPY_SCRIPT) for FakeRuntime, whose small
// `sh` cannot run it: the same Docker COPY semantics in JS over the sandbox's fake files. It takes
// the script's arguments (dest, dir, owner, mode, then "index:type:extract:name" per source) from
// the context the builder unpacked under CONTEXT_DIR, and removes that context afterwards.
import { posix } from "node:path";
import { COPY_SCRIPT, CONTEXT_DIR } from "../build/copy-step.js";
import type { FakeFs } from "../runtime/testing/fake-fs.js";
import type { FakeProgram } from "../runtime/testing/fake-process.js";
import { readTar } from "../runtime/testing/memory-tar.js";

/** `sh` that runs COPY_SCRIPT in JS and hands every other script to `sh`. */
export function withCopyStep(sh: FakeProgram): FakeProgram {
  return (ctx) => (ctx.argv[1] === "-c" && ctx.argv[2] === COPY_SCRIPT ? copyStep(ctx.fs, ctx.argv.slice(4)) : sh(ctx));
}

async function copyStep(fs: FakeFs, args: string[]): Promise<number> {
  const [dest = "/", dirArg, owner = "", mode = "", ...sources] = args;
  const dirDest = dirArg === "1" || fs.stat(dest)?.type === "directory";
  const fix = (path: string): void => {
    const [uid, gid] = owner ? owner.split(":").map((n) => (/^\d+$/.test(n) ? Number(n) : 0)) : [];
    for (const [rel, node] of fs.subtree(path)) {
      const at = posix.join(posix.dirname(path), rel);
      fs.put(at, {
        ...node,
        ...(uid === undefined ? {} : { uid, gid: gid ?? uid }),
        ...(mode ? { mode: parseInt(mode, 8) } : {}),
      });
    }
  };
  for (const s of sources) {
    const [index, type, extract, ...rest] = s.split(":");
    const name = rest.join(":");
    const src = `${CONTEXT_DIR}/${index}/${name}`;
    if (extract === "1") {
      fs.mkdirp(dest);
      const tops = new Set<string>();
      for (const e of await readTar(fs.readFile(src))) {
        if (!e.name || e.name === ".") continue;
        const meta = { mode: (e.mode ?? 0o644) & 0o7777, uid: e.uid ?? 0, gid: e.gid ?? 0, mtime: e.mtime ?? 0 };
        const at = posix.join(dest, posix.normalize(e.name).replace(/^(\.\.\/)+/, ""));
        if (e.type === "directory") fs.put(at, { ...meta, type: "directory" });
        else if (e.type === "symlink") fs.put(at, { ...meta, type: "symlink", target: e.linkname ?? "" });
        else fs.put(at, { ...meta, type: "file", data: e.data ?? Buffer.alloc(0) });
        tops.add(e.name.split("/")[0]!);
      }
      for (const top of tops) fix(posix.join(dest, top));
    } else if (type === "dir") {
      fs.mkdirp(dest);
      for (const e of fs.list(src)) fix(copy(fs, posix.join(src, e.name), posix.join(dest, e.name)));
    } else if (dirDest) {
      fs.mkdirp(dest);
      fix(copy(fs, src, posix.join(dest, posix.basename(name))));
    } else {
      fs.mkdirp(posix.dirname(dest));
      fix(copy(fs, src, dest));
    }
  }
  fs.remove(CONTEXT_DIR, true);
  return 0;
}

/** `cp -a from to` for a `to` that does not exist yet: the node and everything under it. */
function copy(fs: FakeFs, from: string, to: string): string {
  for (const [rel, node] of fs.subtree(from)) fs.put(posix.join(to, rel.split("/").slice(1).join("/")), node);
  return to;
}

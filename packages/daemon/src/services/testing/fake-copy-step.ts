// The build engine's copy step on FakeRuntime. The engine runs COPY_SCRIPT with the helper busybox
// `sh`, which the fake shell cannot interpret; this stands in for that script with the same
// contract (arguments from copyArgs(), sources unpacked under CONTEXT_DIR, which it removes):
// files and directories, a directory destination, chmod and numeric chown. add()'s archive
// extraction is not modelled: such a step fails with exit 2.
import { posix } from "node:path";
import { COPY_SCRIPT, CONTEXT_DIR } from "../../build/copy-step.js";
import type { FakeRuntime } from "../../runtime/testing/fake-runtime.js";
import type { FakeFs } from "../../runtime/testing/fake-fs.js";
import type { FakeProgram } from "../../runtime/testing/fake-process.js";

/** Makes the runtime's `sh` run COPY_SCRIPT as the copy step; other scripts go to the fake shell. */
export function installCopyStep(runtime: FakeRuntime): void {
  const sh = runtime.programs.get("sh")!;
  const wrapped: FakeProgram = (ctx) =>
    ctx.argv[1] === "-c" && ctx.argv[2] === COPY_SCRIPT ? copyStep(ctx.fs, ctx.argv.slice(4), ctx.stderr) : sh(ctx);
  runtime.programs.set("sh", wrapped);
}

async function copyStep(fs: FakeFs, args: string[], stderr: (s: string) => void): Promise<number> {
  const [dest = "", dirFlag, owner = "", mode = "", ...sources] = args;
  const dirDest = dirFlag === "1" || fs.stat(dest)?.type === "directory";
  for (const s of sources) {
    const [i, type, extract, ...rest] = s.split(":");
    const name = rest.join(":");
    const src = `${CONTEXT_DIR}/${i}/${name}`;
    if (extract === "1") {
      stderr("fake copy step: add() of an archive is not modelled\n");
      return 2;
    }
    if (type === "dir") {
      fs.mkdirp(dest);
      for (const e of fs.list(src)) copyTree(fs, posix.join(src, e.name), posix.join(dest, e.name), owner, mode);
    } else if (dirDest) {
      fs.mkdirp(dest);
      copyTree(fs, src, posix.join(dest, name), owner, mode);
    } else {
      fs.mkdirp(posix.dirname(dest));
      copyTree(fs, src, dest, owner, mode);
    }
  }
  fs.remove(CONTEXT_DIR, true);
  return 0;
}

/** `cp -a from to`, then `chown -R owner` and `chmod -R mode` when given. */
function copyTree(fs: FakeFs, from: string, to: string, owner: string, mode: string): void {
  const [uid, gid] = owner ? owner.split(":").map(Number) : [];
  const skip = posix.basename(from).length;
  for (const [rel, node] of fs.subtree(from)) {
    const copy = { ...node, mode: mode ? parseInt(mode, 8) : node.mode };
    if (uid !== undefined) Object.assign(copy, { uid, gid: gid ?? uid });
    fs.put(to + rel.slice(skip), copy);
  }
}

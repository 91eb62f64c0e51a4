// Build steps that only create directories or place a few small files (WORKDIR, a COPY of a small
// context), done by the daemon writing the step's layer directly instead of starting a build
// sandbox (which costs several hundred ms: mounts, crun, cgroups, the layer export). The result
// is what the sandbox's `mkdir -p` / COPY_SCRIPT would leave in the overlay's upper dir: new
// entries, and the existing directories above them with their attributes (overlay copies them
// up). Anything this does not model exactly (a symlink on the way, chown by name, archives, a
// file where a directory must be, images keeping host ids, a big context) answers null, and the
// step runs in a sandbox as before. The context is parsed in memory, never unpacked on the host.
import { chmod, lchown, mkdir, utimes, writeFile } from "node:fs/promises";
import { join, posix } from "node:path";
import type { Readable } from "node:stream";
import { Parser, type ReadEntry } from "tar";
import type { CopyStep } from "@sbx-sh/protocol";
import { HELPER_DIR } from "../runtime/runtime.js";
import { StackView } from "./stack-view.js";

/** A COPY whose context tar is at most this big is done on the host. */
export const SMALL_COPY_BYTES = 1 << 20;
const MAX_ENTRIES = 512;

interface Node {
  kind: "dir" | "file";
  /** Owners are the sandbox's ids (written shifted by uidBase), not already host ids copied from a lower. */
  sandboxIds?: boolean;
  mode: number;
  uid: number;
  gid: number;
  mtime: Date;
  data?: Buffer;
}

/** The entries a step adds to its layer, by absolute path; false from a method means "not on the host". */
export class LayerPlan {
  readonly nodes = new Map<string, Node>();
  /**
   * `uidBase`: layers hold host ids (the sandbox's uid n is uidBase + n on the host), so new
   * entries' owners are shifted when written; directories copied up keep their lower's ids as is.
   */
  constructor(
    private readonly view: StackView,
    private readonly uidBase = 0,
  ) {}

  /** `mkdir -p path`. */
  async mkdirp(path: string): Promise<boolean> {
    const planned = this.nodes.get(path);
    if (planned) return planned.kind === "dir";
    const e = await this.view.lookup(path);
    if (e.kind === "dir") return true;
    if (e.kind !== "missing") return false;
    if (!(await this.parents(path))) return false;
    this.nodes.set(path, { kind: "dir", mode: 0o755, uid: 0, gid: 0, mtime: new Date(), sandboxIds: true });
    return true;
  }

  /** `cp -a` of one entry onto `path` (a file replaces a file; a directory merges into one). */
  async put(path: string, node: Node): Promise<boolean> {
    if (path === "/" || path === HELPER_DIR || path.startsWith(HELPER_DIR + "/")) return false;
    const planned = this.nodes.get(path);
    const existing = planned ? planned.kind : (await this.view.lookup(path)).kind;
    if (existing !== "missing" && existing !== node.kind) return false;
    if (!(await this.parents(path))) return false;
    this.nodes.set(path, node);
    return true;
  }

  /** The directories above a new entry: planned, created, or copied up with their attributes. */
  private async parents(path: string): Promise<boolean> {
    const parent = posix.dirname(path);
    if (parent === "/") return true;
    const planned = this.nodes.get(parent);
    if (planned) return planned.kind === "dir";
    const e = await this.view.lookup(parent);
    if (e.kind === "file" || e.kind === "other") return false;
    if (!(await this.parents(parent))) return false;
    const st = e.kind === "dir" ? e.stat : undefined;
    this.nodes.set(parent, {
      kind: "dir",
      mode: st ? st.mode & 0o7777 : 0o755,
      uid: st?.uid ?? 0,
      gid: st?.gid ?? 0,
      mtime: st?.mtime ?? new Date(),
      sandboxIds: !st,
    });
    return true;
  }

  /** Writes the entries under `root` (an empty directory): parents first, times last (children first). */
  async write(root: string): Promise<void> {
    const paths = [...this.nodes.keys()].sort();
    for (const p of paths) {
      const n = this.nodes.get(p)!;
      const at = join(root, p);
      if (n.kind === "dir") await mkdir(at);
      else await writeFile(at, n.data ?? Buffer.alloc(0), { flag: "wx" });
      const shift = n.sandboxIds ? this.uidBase : 0;
      await lchown(at, n.uid + shift, n.gid + shift);
      await chmod(at, n.mode);
    }
    for (const p of paths.reverse()) {
      const n = this.nodes.get(p)!;
      await utimes(join(root, p), n.mtime, n.mtime);
    }
  }
}

/** WORKDIR: the directory and its missing parents; an empty plan when it exists. */
export async function planWorkdir(lowers: string[], dir: string, uidBase: number): Promise<LayerPlan | null> {
  const plan = new LayerPlan(new StackView(lowers), uidBase);
  return (await plan.mkdirp(posix.resolve("/", dir))) ? plan : null;
}

/** A COPY of a small context, with COPY_SCRIPT's rules (see copy-step.ts and copyArgs). */
export async function planCopy(
  lowers: string[],
  step: CopyStep,
  args: { dest: string; dirDest: boolean; uidBase: number },
  context: () => Readable,
): Promise<LayerPlan | null> {
  if (step.sources.some((s) => s.extract)) return null;
  if (step.chmod !== undefined && !/^[0-7]{3,4}$/.test(step.chmod)) return null;
  if (step.chown !== undefined && !/^\d{1,5}(:\d{1,5})?$/.test(step.chown)) return null;
  const owner = step.chown?.split(":").map(Number);
  // Ids beyond the sandbox's range are the sandbox's business (it maps them to nobody).
  if (owner?.some((id) => id >= 65536)) return null;
  const entries = await readSmallTar(context());
  if (!entries) return null;
  const plan = new LayerPlan(new StackView(lowers), args.uidBase);
  const { dest } = args;
  let dirDest = args.dirDest || (await new StackView(lowers).lookup(dest)).kind === "dir";
  const fix = (n: Node): Node => ({
    ...n,
    uid: owner?.[0] ?? n.uid,
    gid: owner?.[1] ?? n.gid,
    mode: step.chmod !== undefined ? parseInt(step.chmod, 8) : n.mode,
  });
  for (const [i, s] of step.sources.entries()) {
    const src = `${i}/${s.name}`;
    if (s.type === "dir") {
      if (!(await plan.mkdirp(dest))) return null;
      dirDest = true;
      for (const [path, node] of entries) {
        if (!path.startsWith(src + "/")) continue;
        if (!(await plan.put(posix.join(dest, path.slice(src.length + 1)), fix(node)))) return null;
      }
      continue;
    }
    const node = entries.get(src);
    if (!node || node.kind !== "file") return null;
    const target = dirDest ? posix.join(dest, posix.basename(s.name)) : dest;
    if (!(await plan.mkdirp(posix.dirname(target)))) return null;
    if (!(await plan.put(target, fix(node)))) return null;
  }
  return plan;
}

/** Files and directories of a tar of at most SMALL_COPY_BYTES (gzip or not), or null for anything else. */
async function readSmallTar(stream: Readable): Promise<Map<string, Node> | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > SMALL_COPY_BYTES) {
      stream.destroy();
      return null;
    }
    chunks.push(chunk);
  }
  const entries = new Map<string, Node>();
  let ok = true;
  const parser = new Parser({
    strict: true,
    onReadEntry: (e: ReadEntry) => {
      const path = e.path.replace(/\/+$/, "");
      const safe = path !== "" && !path.startsWith("/") && !path.split("/").some((c) => c === ".." || c === ".");
      const kind = e.type === "File" || e.type === "OldFile" ? "file" : e.type === "Directory" ? "dir" : undefined;
      if (!safe || !kind || entries.size >= MAX_ENTRIES) ok = false;
      const data: Buffer[] = [];
      e.on("data", (b: Buffer) => data.push(b));
      e.on("end", () => {
        if (ok && kind)
          // Unpacked by root with -o in the sandbox: owned by root, modes and times from the tar.
          entries.set(path, {
            kind,
            mode: (e.mode ?? (kind === "dir" ? 0o755 : 0o644)) & 0o7777,
            uid: 0,
            gid: 0,
            sandboxIds: true,
            mtime: e.mtime ?? new Date(0),
            ...(kind === "file" ? { data: Buffer.concat(data) } : {}),
          });
      });
    },
  });
  const done = new Promise<void>((resolve) => {
    parser.on("error", () => ((ok = false), resolve()));
    parser.on("close", () => resolve());
  });
  parser.end(Buffer.concat(chunks));
  await done;
  return ok ? entries : null;
}

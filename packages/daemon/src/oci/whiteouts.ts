// Entry-by-entry translation between sbx layers (overlayfs form: whiteouts are 0/0 char devices,
// opaque dirs carry trusted.overlay.opaque=y, owners shifted into the sandboxes' uid range) and
// OCI layers (`.wh.<name>` files, `.wh..wh..opq` markers, container ids 0..65535). The import
// direction is also the gate for untrusted archives: every path, link and type is checked here.
import { posix } from "node:path";
import { SbxError } from "@sbx-sh/protocol";
import type { TarHeader } from "./tar.js";

const OPAQUE_XATTR = "trusted.overlay.opaque";
const WH = ".wh.";
const OPQ = ".wh..wh..opq";
/** What a sandbox shows for ids outside its mapping (the kernel's overflow id). */
const OVERFLOW_ID = 65534;
const ID_RANGE = 65536;

/** xattrs an image may carry; anything else (trusted.*, security.selinux, ...) is dropped. */
function keepXattr(name: string): boolean {
  return name === CAP_XATTR || name.startsWith("user.");
}

const CAP_XATTR = "security.capability";
const CAP_V2 = 0x02000000;
const CAP_V3 = 0x03000000;

/**
 * File capabilities of an imported layer, made to work inside sandboxes only. Host root's tar would
 * store a v2 `security.capability` as it is, effective on the host itself (a cap_setuid binary in a
 * layer dir would be a way to root for any host user); as v3 owned by the sandboxes' root (uidBase
 * + the image's rootid) the kernel honours it only in their user namespace. Anything else is dropped.
 */
export function sandboxCapability(value: Buffer, uidBase: number): Buffer | undefined {
  if (value.length < 20) return undefined;
  const magic = value.readUInt32LE(0);
  const revision = (magic & 0xff000000) >>> 0;
  const rootid =
    revision === CAP_V3 && value.length >= 24 ? value.readUInt32LE(20) : revision === CAP_V2 ? 0 : ID_RANGE;
  if (rootid >= ID_RANGE) return undefined;
  const out = Buffer.alloc(24);
  out.writeUInt32LE((CAP_V3 | (magic & 0x1)) >>> 0, 0);
  value.copy(out, 4, 4, 20);
  out.writeUInt32LE(uidBase + rootid, 20);
  return out;
}

function unshift(id: number, uidBase: number): number {
  const v = id - uidBase;
  return v >= 0 && v < ID_RANGE ? v : OVERFLOW_ID;
}

/** `./a/b/` → `a/b`; "" is the layer's root. */
function clean(p: string): string {
  return p
    .replace(/^(\.\/)+/, "")
    .replace(/^\.$/, "")
    .replace(/\/+$/, "");
}

/** One sbx layer entry (from GNU tar of the layer dir) as OCI entries; [] for the root itself. */
export function overlayToOci(h: TarHeader, uidBase: number): TarHeader[] {
  const path = clean(h.path);
  if (path === "") return [];
  const xattrs: Record<string, Buffer> = {};
  for (const [k, v] of Object.entries(h.xattrs)) if (keepXattr(k)) xattrs[k] = v;
  const base = { ...h, path, uid: unshift(h.uid, uidBase), gid: unshift(h.gid, uidBase), xattrs };
  if (h.type === "char" && h.devmajor === 0 && h.devminor === 0) {
    const dir = posix.dirname(path);
    const name = WH + posix.basename(path);
    return [
      {
        ...base,
        path: dir === "." ? name : `${dir}/${name}`,
        type: "file",
        mode: 0o644,
        uid: 0,
        gid: 0,
        size: 0,
        devmajor: 0,
        devminor: 0,
        linkpath: "",
      },
    ];
  }
  // Device nodes (a debootstrapped /dev) are never usable in a sandbox, which gets its own /dev,
  // and an importer would refuse them: they are left out, as docker leaves them out of images.
  if (h.type === "char" || h.type === "block") return [];
  if (h.type === "hardlink") return [{ ...base, linkpath: clean(h.linkpath) }];
  const out = [base];
  if (h.type === "dir" && h.xattrs[OPAQUE_XATTR]?.toString() === "y") {
    out.push({
      ...base,
      path: `${path}/${OPQ}`,
      type: "file",
      mode: 0o644,
      uid: 0,
      gid: 0,
      size: 0,
      xattrs: {},
      linkpath: "",
    });
  }
  return out;
}

type Kind = "dir" | "file" | "other";

/** What has been unpacked so far in one layer: the gate's memory. */
export class LayerGate {
  private readonly kinds = new Map<string, Kind>();
  /** Directories to mark opaque once unpacked (relative paths). */
  readonly opaque: string[] = [];
  entries = 0;

  constructor(
    private readonly uidBase: number,
    private readonly what: string,
  ) {}

  private fail(path: string, why: string): SbxError {
    return new SbxError("invalid_archive", `${this.what}: entry ${JSON.stringify(path)} ${why}`, { entry: path });
  }

  /** A safe relative path whose parents are directories of this layer (never a symlink). */
  private checkPath(raw: string): string {
    if (raw.includes("\0")) throw this.fail(raw, "has a NUL byte in its name");
    if (raw.startsWith("/")) throw this.fail(raw, "is an absolute path");
    const path = clean(raw);
    const parts = path === "" ? [] : path.split("/");
    if (parts.some((p) => p === "..")) throw this.fail(raw, "escapes the layer with '..'");
    if (parts.some((p) => p === "" || p === ".")) throw this.fail(raw, "is not a normalized path");
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join("/");
      const k = this.kinds.get(parent);
      if (k === undefined) this.kinds.set(parent, "dir");
      else if (k !== "dir")
        throw this.fail(
          raw,
          `goes through ${JSON.stringify(parent)}, which is not a directory (symlinks are never followed)`,
        );
    }
    return path;
  }

  private shift(path: string, id: number): number {
    if (!Number.isInteger(id) || id < 0 || id >= ID_RANGE)
      throw this.fail(path, `has owner id ${id}: ids must be within 0..${ID_RANGE - 1}`);
    return id + this.uidBase;
  }

  /** The overlay-form entry for one OCI entry, or null when it only marks a dir opaque. */
  convert(h: TarHeader): TarHeader | null {
    this.entries++;
    const path = this.checkPath(h.path);
    if (path === "") {
      if (h.type !== "dir") throw this.fail(h.path, "replaces the layer's root with a non-directory");
      return null;
    }
    const dir = posix.dirname(path);
    const name = posix.basename(path);
    const xattrs: Record<string, Buffer> = {};
    for (const [k, v] of Object.entries(h.xattrs)) if (keepXattr(k)) xattrs[k] = v;
    if (xattrs[CAP_XATTR]) {
      const cap = sandboxCapability(xattrs[CAP_XATTR], this.uidBase);
      if (cap) xattrs[CAP_XATTR] = cap;
      else delete xattrs[CAP_XATTR];
    }
    const out: TarHeader = {
      ...h,
      path,
      xattrs,
      uid: this.shift(path, h.uid),
      gid: this.shift(path, h.gid),
      linkpath: h.linkpath,
      devmajor: 0,
      devminor: 0,
    };
    if (name === OPQ) {
      this.opaque.push(dir === "." ? "" : dir);
      return null;
    }
    if (name.startsWith(WH)) {
      const target = name.slice(WH.length);
      if (target === "" || target === "." || target === "..") throw this.fail(h.path, "is a whiteout of nothing");
      const wpath = dir === "." ? target : `${dir}/${target}`;
      this.claim(wpath, "other");
      return { ...out, path: wpath, type: "char", mode: 0, uid: 0, gid: 0, size: 0, linkpath: "", xattrs: {} };
    }
    switch (h.type) {
      case "dir":
        this.claim(path, "dir");
        return out;
      case "file":
        this.claim(path, "file");
        return out;
      case "symlink":
        // Any target is allowed: nothing on the host ever follows it (parents are checked above).
        if (h.linkpath === "" || h.linkpath.includes("\0")) throw this.fail(h.path, "is a symlink without a target");
        this.claim(path, "other");
        return out;
      case "hardlink": {
        const target = clean(h.linkpath);
        if (h.linkpath.startsWith("/") || target.split("/").includes("..") || this.kinds.get(target) !== "file") {
          throw this.fail(
            h.path,
            `is a hard link to ${JSON.stringify(h.linkpath)}, which is not a regular file earlier in this layer`,
          );
        }
        this.claim(path, "other");
        return { ...out, linkpath: target };
      }
      case "fifo":
        this.claim(path, "other");
        return out;
      default:
        throw this.fail(h.path, `is a ${h.type} device: device nodes are refused`);
    }
  }

  private claim(path: string, kind: Kind): void {
    const had = this.kinds.get(path);
    if (had !== undefined && !(had === "dir" && kind === "dir")) throw this.fail(path, "appears twice in the layer");
    this.kinds.set(path, kind);
  }
}

// Two hand-made sbx layers for export tests: a base with shifted owners, a hard link, a setuid
// file and an absolute symlink, and an upper layer with a whiteout (a 0/0 char device) and an
// opaque dir, as overlayfs leaves them. Needs root (chown, mknod, trusted.* xattrs).
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, chownSync, linkSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ImageRecord, LayerRecord } from "../../domain/records.js";
import type { ExportSource } from "../export.js";
import type { GzipProgram } from "../program-gzip.js";

export const UID = 100000;

export const sh = (cmd: string, args: string[]): string => {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
};

/** Makes the layers under `root` (which must exist) and returns the image that stacks them (compressed by `gzip`, else zlib). */
export function makeLayers(root: string, gzip?: GzipProgram): ExportSource {
  const base = join(root, "base");
  mkdirSync(join(base, "etc"), { recursive: true });
  mkdirSync(join(base, "data/old"), { recursive: true });
  mkdirSync(join(base, "home/app"), { recursive: true });
  writeFileSync(join(base, "etc/hello"), "hello\n");
  writeFileSync(join(base, "etc/gone"), "bye\n");
  writeFileSync(join(base, "data/old/x"), "x");
  writeFileSync(join(base, "suid"), "#!/bin/true\n");
  linkSync(join(base, "etc/hello"), join(base, "etc/hello-link"));
  symlinkSync("/etc/hello", join(base, "abs-link"));
  sh("chown", ["-R", "-h", `${UID}:${UID}`, base]);
  chownSync(join(base, "home/app"), UID + 1000, UID + 1000);
  chmodSync(join(base, "suid"), 0o4755);
  const upper = join(root, "upper");
  mkdirSync(join(upper, "etc"), { recursive: true });
  mkdirSync(join(upper, "data"), { recursive: true });
  sh("mknod", [join(upper, "etc/gone"), "c", "0", "0"]);
  sh("setfattr", ["-n", "trusted.overlay.opaque", "-v", "y", join(upper, "data")]);
  writeFileSync(join(upper, "data/new"), "new\n");
  sh("chown", ["-R", `${UID}:${UID}`, upper]);
  // As overlayfs makes them: mode 0, owned by whoever mounted the overlay (host root).
  chownSync(join(upper, "etc/gone"), 0, 0);
  chmodSync(join(upper, "etc/gone"), 0);
  return {
    name: "t",
    tag: "1",
    createdAt: "2026-01-01T00:00:00.000Z",
    layers: [
      { dir: base, uidBase: UID, ...(gzip ? { gzip } : {}) },
      { dir: upper, uidBase: UID, ...(gzip ? { gzip } : {}) },
    ],
    config: {
      env: ["PATH=/bin", "A=1"],
      workingDir: "/home/app",
      user: "1000",
      entrypoint: ["/bin/sh"],
      cmd: ["-c", "true"],
      systemd: false,
    },
  };
}

/** sha256 of the tree below dir as GNU tar (gnu format: whole seconds, no xattrs) writes it, without the root entry itself. */
export function treeHash(dir: string): string {
  const names = readdirSync(dir).sort();
  const tar = spawnSync(
    "tar",
    ["--sort=name", "--numeric-owner", "--format=gnu", "-C", dir, "-cf", "-", "--", ...names],
    { maxBuffer: 1 << 28 },
  );
  if (tar.status !== 0) throw new Error(`tar of ${dir} failed: ${tar.error?.message ?? tar.stderr.toString()}`);
  return createHash("sha256").update(tar.stdout).digest("hex");
}

/** A tiny in-memory image store: what import needs. */
export function memStore() {
  const layers = new Map<string, LayerRecord>();
  const images: ImageRecord[] = [];
  return {
    images,
    getLayer: async (k: string) => layers.get(k),
    putLayer: async (l: LayerRecord) => void layers.set(l.key, l),
    registerImage: async (i: ImageRecord) => void images.push(i),
    findImage: async (p: string, n: string, t: string) =>
      images.find((i) => i.project === p && i.name === n && i.tag === t),
  };
}

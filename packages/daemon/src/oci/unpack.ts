// Unpacking untrusted archives. A layer blob is hashed (digest), decompressed, hashed again (diff
// id), passed entry by entry through the LayerGate (paths, links, types, owners) and rewritten as
// a clean overlay-form tar that GNU tar extracts into an empty dir. The outer layout tar of an
// import is unpacked by `unpackPlain`, which writes only regular files and directories itself.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream, existsSync } from "node:fs";
import { chown, link as link_, mkdir } from "node:fs/promises";
import { join, posix } from "node:path";
import { PassThrough, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { mustRun } from "../common/command.js";
import { feedTar } from "../common/tar-feed.js";
import { SbxError } from "@sbx-sh/protocol";
import { invalid } from "./layout.js";
import { readTar } from "./tar.js";
import { encodeHeader, padding, TAR_END } from "./tar-write.js";
import { LayerGate } from "./whiteouts.js";

export interface LayerSource {
  path: string;
  digest: string | null;
  size: number | null;
  compression: "tar" | "gzip" | "detect";
  diffId: string;
}

/** Unpacks one layer blob into `dest` (made here, owned by the sandbox root); throws invalid_archive on anything wrong. */
export async function unpackLayer(src: LayerSource, dest: string, uidBase: number): Promise<{ entries: number }> {
  const what = `layer ${src.digest ?? src.path.split("/").slice(-2).join("/")}`;
  await mkdir(dest, { mode: 0o755 });
  await chown(dest, uidBase, uidBase);
  const blobHash = createHash("sha256");
  const diffHash = createHash("sha256");
  let blobSize = 0;
  const head = await peek(src.path);
  // Listening starts the flow: the pipeline below must be attached in this same tick.
  const file = createReadStream(src.path).on("data", (c) => {
    blobHash.update(c as Buffer);
    blobSize += (c as Buffer).length;
  });
  const gzip = src.compression === "gzip" || (src.compression === "detect" && head[0] === 0x1f && head[1] === 0x8b);
  const plain = new PassThrough();
  const decompress = gzip ? pipeline(file, createGunzip(), plain) : pipeline(file, plain);
  const raw = new PassThrough();
  plain.on("data", (c: Buffer) => diffHash.update(c));
  plain.pipe(raw);
  const gate = new LayerGate(uidBase, what);
  const tar = spawn(
    "tar",
    [
      "--numeric-owner",
      "--same-owner",
      "-p",
      "--xattrs",
      "--xattrs-include=trusted.overlay.opaque",
      "--xattrs-include=security.capability",
      "--xattrs-include=user.*",
      "-C",
      dest,
      "-xf",
      "-",
    ],
    { stdio: ["pipe", "ignore", "pipe"] },
  );
  let stderr = "";
  tar.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
  const tarExit = new Promise<number>((resolve) => {
    tar.on("error", () => resolve(127));
    tar.on("close", (c) => resolve(c ?? 1));
  });
  // Set once the end marker is on its way: GNU tar exits as soon as it reads it, so its stdin may
  // close before the feed ends from then on (tar's exit status, checked below, says whether it
  // extracted everything). A stdin closed before that is tar failing on its own.
  let endSent = false;
  let closedEarly = false;
  async function* clean(): AsyncGenerator<Buffer> {
    for await (const e of readTar(raw)) {
      const h = gate.convert(e.header);
      if (!h) continue;
      yield encodeHeader(h);
      if (h.type === "file" && h.size > 0) {
        for await (const c of e.body()) yield c;
        yield padding(h.size);
      }
    }
    endSent = true;
    yield TAR_END;
  }
  const feed = async (): Promise<void> => {
    if (!(await feedTar(clean(), tar.stdin)) && !endSent) {
      closedEarly = true;
      throw new Error("tar closed its input before the end of the archive");
    }
    // Drain what follows the end marker so the digests cover the whole blob.
    for await (const _ of raw) void _;
  };
  try {
    await Promise.all([
      decompress.catch((err: unknown) => {
        raw.destroy();
        throw invalid(
          `${what} cannot be decompressed (${err instanceof Error ? err.message : String(err)}): corrupt or not ${gzip ? "gzip" : "tar"}`,
          { blob: src.digest },
        );
      }),
      feed(),
    ]);
  } catch (err) {
    file.destroy();
    raw.destroy();
    // tar gone before its input ended failed on its own: its words, not the pipe's.
    const gone = closedEarly;
    if (gone) await Promise.race([tarExit, new Promise((r) => setTimeout(r, 2000).unref())]);
    tar.kill();
    const code = await tarExit;
    if (err instanceof SbxError) throw err;
    if (gone && tar.signalCode === null && code !== 0) throw tarFailed(what, code, stderr);
    throw invalid(`${what}: ${err instanceof Error ? err.message : String(err)}`, { blob: src.digest });
  }
  const code = await tarExit;
  if (code !== 0) throw tarFailed(what, code, stderr);
  if (src.digest !== null) {
    const got = `sha256:${blobHash.digest("hex")}`;
    if (src.size !== null && blobSize !== src.size)
      throw invalid(`${what} has ${blobSize} bytes, its descriptor says ${src.size}`, { blob: src.digest });
    if (got !== src.digest)
      throw invalid(`${what} does not match its digest (got ${got}): corrupt blob`, { blob: src.digest });
  }
  const diffId = `sha256:${diffHash.digest("hex")}`;
  if (diffId !== src.diffId)
    throw invalid(`${what} unpacks to ${diffId}, but the config's diff_id is ${src.diffId}`, { blob: src.digest });
  for (const p of gate.opaque) {
    // A marker alone in its dir: the dir was never an entry, so make it (the gate checked its parents).
    if (!existsSync(join(dest, p))) {
      await mkdir(join(dest, p), { recursive: true, mode: 0o755 });
      await chown(join(dest, p), uidBase, uidBase);
    }
  }
  if (gate.opaque.length) {
    // setfattr never follows the last symlink with -h; the gate made sure every path is a real dir.
    for (let i = 0; i < gate.opaque.length; i += 500) {
      await mustRun("setfattr", [
        "-h",
        "-n",
        "trusted.overlay.opaque",
        "-v",
        "y",
        "--",
        ...gate.opaque.slice(i, i + 500).map((p) => join(dest, p)),
      ]);
    }
  }
  return { entries: gate.entries };
}

function tarFailed(what: string, code: number, stderr: string): SbxError {
  const said = stderr.trim().split("\n").slice(-3).join(" | ");
  return new SbxError("runtime_error", `cannot unpack ${what}: tar exited with ${code}${said ? `: ${said}` : ""}`);
}

async function peek(path: string): Promise<Buffer> {
  for await (const c of createReadStream(path, { start: 0, end: 1 })) return c as Buffer;
  return Buffer.alloc(0);
}

/** Unpacks a layout tar (regular files and directories only) into an empty dir. */
export async function unpackPlain(body: Readable, dest: string, maxBytes: number): Promise<void> {
  const made = new Set<string>([""]);
  const files = new Set<string>();
  let total = 0;
  for await (const e of readTar(body)) {
    const path = e.header.path.replace(/^(\.\/)+/, "").replace(/\/+$/, "");
    if (path === "" || path === ".") continue;
    const parts = path.split("/");
    if (e.header.path.startsWith("/") || parts.some((p) => p === ".." || p === "" || p === "."))
      throw invalid(`the archive has an unsafe path ${JSON.stringify(e.header.path)}`);
    const link =
      e.header.type === "symlink" ? posix.normalize(posix.join(posix.dirname(path), e.header.linkpath)) : undefined;
    // `docker save` archives share identical layers by symlink: kept as a hard link to a file already here.
    const linkOk = link !== undefined && !e.header.linkpath.startsWith("/") && files.has(link);
    if (e.header.type !== "file" && e.header.type !== "dir" && !linkOk)
      throw invalid(
        `the archive's ${JSON.stringify(path)} is a ${e.header.type}${link ? ` to ${e.header.linkpath}` : ""}: an image archive holds only files, directories and links to its own files`,
      );
    for (let i = 1; i <= parts.length - (e.header.type === "dir" ? 0 : 1); i++) {
      const d = parts.slice(0, i).join("/");
      if (files.has(d)) throw invalid(`the archive's ${JSON.stringify(path)} is below a file`);
      if (!made.has(d)) {
        await mkdir(join(dest, d), { recursive: false, mode: 0o700 }).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== "EEXIST") throw err;
        });
        made.add(d);
      }
    }
    if (linkOk) {
      if (made.has(path) || files.has(path)) throw invalid(`the archive has ${JSON.stringify(path)} twice`);
      await link_(join(dest, link), join(dest, path));
      files.add(path);
    } else if (e.header.type === "file") {
      if (made.has(path) || files.has(path)) throw invalid(`the archive has ${JSON.stringify(path)} twice`);
      total += e.header.size;
      if (total > maxBytes)
        throw new SbxError(
          "payload_too_large",
          `the image archive unpacks to more than ${Math.round(maxBytes / 2 ** 20)} MiB`,
        );
      // "wx": never through an existing file or link; only this function writes here.
      await pipeline(e.body(), createWriteStream(join(dest, path), { flags: "wx", mode: 0o600 }));
      files.add(path);
    }
  }
}

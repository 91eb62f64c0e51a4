// `sbx cp`: files and trees between this host and a sandbox, both ways, with docker cp's rules
// for what lands where. Tar travels over PUT/GET /archive; downloads are unpacked with the SDK's
// safe extraction (sandbox content is untrusted) into a temp dir beside the target, then renamed.
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { mkdir, readdir, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join, posix, resolve } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Command } from "commander";
import { SbxError } from "@sbx-sh/protocol";
import { extractSafe, packPath, type ExtractOptions } from "@sbx-sh/sdk/internal/archive";
import { httpStatusOf, Sandbox } from "@sbx-sh/sdk/core";
import { globalsOf, withClient } from "../context.js";
import { progress } from "../output.js";
import { onStopSignals } from "./exec.js";
import { TransferProgress, transferMode } from "../transfer-progress.js";

/** Counts a tar as it passes, and (file) each regular file in it. */
type Meter = ((s: Readable) => Readable) & { file: (bytes: number) => void };

export type Spec =
  { kind: "local"; path: string } | { kind: "sandbox"; sandbox: string; path: string } | { kind: "stdio" };

/** `<id>:<path>` names a sandbox path; anything with a `/` before the first `:` is local (./a:b). */
export function parseSpec(text: string): Spec {
  if (text === "-") return { kind: "stdio" };
  const colon = text.indexOf(":");
  if (colon > 0 && !text.slice(0, colon).includes("/")) {
    const path = text.slice(colon + 1);
    if (!path.startsWith("/"))
      throw new SbxError(
        "invalid_path",
        `${text}: a path inside a sandbox is absolute (${text.slice(0, colon)}:/${path})`,
      );
    return { kind: "sandbox", sandbox: text.slice(0, colon), path };
  }
  return { kind: "local", path: text };
}

type RemoteKind = "directory" | "file" | "missing";

async function remoteKind(sb: Sandbox, path: string): Promise<RemoteKind> {
  try {
    // One entry is enough to learn it is a directory; the parent below is followed page by page.
    await sb.listDirectory(path, { limit: 1 });
    return "directory";
  } catch (err) {
    if (!(err instanceof SbxError) || httpStatusOf(err.code) >= 500) throw err;
  }
  const parent = posix.dirname(path);
  try {
    const listing = await sb.listDirectory(parent);
    return listing.entries.some((e) => e.name === posix.basename(path)) ? "file" : "missing";
  } catch (err) {
    if (err instanceof SbxError && httpStatusOf(err.code) === 404) return "missing";
    throw err;
  }
}

async function localKind(path: string): Promise<RemoteKind> {
  try {
    return (await stat(path)).isDirectory() ? "directory" : "file";
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return "missing";
    throw err;
  }
}

interface CpFlags {
  followLink?: boolean;
}

async function upload(
  sb: Sandbox,
  src: Spec & { kind: "local" | "stdio" },
  dst: string,
  o: CpFlags,
  meter: Meter,
): Promise<void> {
  if (src.kind === "stdio") return sb.uploadArchive(dst, meter(process.stdin));
  const srcKind = await localKind(src.path);
  if (srcKind === "missing") throw new SbxError("file_not_found", `${src.path}: no such file or directory`);
  const packing = { follow: !!o.followLink, onFile: meter.file };
  const kind = dst.endsWith("/") ? "directory" : await remoteKind(sb, dst);
  if (kind === "directory")
    return sb.uploadArchive(dst, meter(packPath(src.path, basename(resolve(src.path)), packing)));
  if (kind === "file" && srcKind === "directory")
    throw new SbxError("invalid_path", `cannot copy directory ${src.path} onto file ${dst}`);
  // Missing target, or a file to replace: the source goes in under the target's name.
  return sb.uploadArchive(posix.dirname(dst), meter(packPath(src.path, posix.basename(dst), packing)));
}

/** The sandbox's own view of where a symbolic link leads (its kernel resolves it). */
async function realpathIn(sb: Sandbox, path: string): Promise<string> {
  const r = await sb.run("readlink", { args: ["-f", "--", path] });
  const resolved = r.stdout.trim();
  if (r.exitCode !== 0 || !resolved.startsWith("/"))
    throw new SbxError(
      "file_not_found",
      `cannot follow ${path} in the sandbox: ${r.stderr.trim() || "readlink failed"}`,
    );
  return resolved;
}

async function download(
  sb: Sandbox,
  src: string,
  dst: Spec & { kind: "local" | "stdio" },
  o: CpFlags,
  meter: Meter,
): Promise<void> {
  const from = o.followLink ? await realpathIn(sb, src) : src;
  const archive = meter(await sb.downloadArchive(from));
  if (dst.kind === "stdio") return pipeline(archive, process.stdout);
  const target = resolve(dst.path);
  const refused: string[] = [];
  const onWarning = (m: string, wasRefused: boolean) => {
    if (wasRefused) refused.push(m);
    progress(`sbx cp: ${m}`);
  };
  const kind = dst.path.endsWith("/") ? "directory" : await localKind(target);
  try {
    if (kind === "directory") {
      await mkdir(target, { recursive: true });
      await extractSafe(archive, target, {
        onWarning,
        onFile: meter.file,
        renameTop: from !== src ? posix.basename(src) : undefined,
      });
    } else await extractBeside(archive, target, kind, src, { onWarning, onFile: meter.file }, refused);
  } catch (err) {
    if (err instanceof SbxError && err.code === "invalid_archive")
      throw new SbxError(
        "invalid_archive",
        `cannot copy ${src}: ${err.message}; does it exist in the sandbox?`,
        undefined,
        { cause: err },
      );
    throw err;
  }
  if (refused.length) throw notCopied(src, refused);
}

/** Unpacks into a temp dir beside `target`, then renames the result into place. */
async function extractBeside(
  archive: Readable,
  target: string,
  kind: RemoteKind,
  src: string,
  report: Pick<ExtractOptions, "onWarning" | "onFile">,
  refused: string[],
): Promise<void> {
  await mkdir(dirname(target), { recursive: true });
  // The name is chosen before the dir exists and the handler is in place before it is made: with
  // mkdtemp, a Ctrl-C between the dir appearing and the handler's registration left it behind.
  const tmp = join(dirname(target), `.sbx-cp-${basename(target)}-${randomBytes(6).toString("hex")}`);
  // Ctrl-C mid-download skips the finally below: without this the partial tree stayed beside the
  // target as a hidden dir. Removed, the CLI dies of the signal as it would have.
  const off = onStopSignals((sig) => {
    if (sig === "SIGPIPE") return; // our stdout's reader left: nothing of this copy goes there
    off();
    rmSync(tmp, { recursive: true, force: true });
    process.kill(process.pid, sig);
  });
  await mkdir(tmp, { mode: 0o700 }).catch((err: unknown) => {
    off(); // not made here (the name exists): nothing of ours to remove
    throw err;
  });
  try {
    await extractSafe(archive, tmp, report);
    const entries = await readdir(tmp);
    if (entries.length === 0) throw notCopied(src, refused);
    // One top entry is the copied file or tree; several mean the archive held a tree's contents.
    const from = entries.length === 1 ? join(tmp, entries[0]!) : tmp;
    if (kind === "file" && (await stat(from)).isDirectory())
      throw new SbxError("invalid_path", `cannot copy directory ${src} onto file ${target}`);
    await rename(from, target);
  } finally {
    off();
    await rm(tmp, { recursive: true, force: true });
  }
}

function notCopied(src: string, refused: string[]): SbxError {
  const link = refused.some((m) => m.includes(" -> "));
  let what = `nothing was copied from ${src}`;
  if (refused.length === 1) what = `1 entry of ${src} was not copied`;
  else if (refused.length > 1) what = `${refused.length} entries of ${src} were not copied`;
  return new SbxError(
    "invalid_path",
    `${what}${link ? ": a symbolic link points outside what is copied (add -L to copy what it points to)" : ""}`,
  );
}

export function registerCpCommand(program: Command): void {
  const cp = program.command("cp").description("copy files and directories between this host and a sandbox");
  cp.argument("<src>", "local path, <id>:<path>, or - (a tar on stdin)")
    .argument("<dst>", "local path, <id>:<path>, or - (a tar on stdout)")
    .option("-L, --follow-link", "copy what a symbolic link in SRC points to, not the link")
    .addHelpText(
      "after",
      `
Like docker cp: copying onto an existing directory puts the source inside it; otherwise the
source is written under the destination's name. Directories are copied recursively.

Examples:
  $ sbx cp ./app sb-3f9k2:/srv              # -> /srv/app
  $ sbx cp ./app sb-3f9k2:/srv/new-name     # -> /srv/new-name (when it does not exist)
  $ sbx cp ./run.sh sb-3f9k2:/usr/local/bin/
  $ sbx cp sb-3f9k2:/var/log ./logs         # -> ./logs (a copy of /var/log)
  $ sbx cp -L sb-3f9k2:/etc/os-release .    # a symlink: -L copies its target
  $ tar -C src -c . | sbx cp - sb-3f9k2:/app
  $ sbx cp sb-3f9k2:/app - | tar -t`,
    )
    .action(async (srcText: string, dstText: string, o: CpFlags, cmd: Command) => {
      const src = parseSpec(srcText);
      const dst = parseSpec(dstText);
      if ((src.kind === "sandbox") === (dst.kind === "sandbox")) {
        throw new SbxError(
          "invalid_argument",
          "one side of sbx cp is a sandbox path (<id>:/path) and the other a local path or -",
        );
      }
      const g = globalsOf(cmd);
      // A tar from stdin or to stdout is the data itself; otherwise the files in it are.
      const tar = src.kind === "stdio" || dst.kind === "stdio" ? "stream" : "files";
      const bytes = new TransferProgress("cp", `${srcText} -> ${dstText}`, { mode: transferMode(g), tar });
      const meter: Meter = Object.assign((s: Readable) => bytes.meter(s), { file: (n: number) => bytes.file(n) });
      await withClient(cmd, async (client) => {
        if (dst.kind === "sandbox")
          await upload(
            await Sandbox.connect(dst.sandbox, client),
            src as Spec & { kind: "local" | "stdio" },
            dst.path,
            o,
            meter,
          );
        else if (src.kind === "sandbox")
          await download(
            await Sandbox.connect(src.sandbox, client),
            src.path,
            dst as Spec & { kind: "local" | "stdio" },
            o,
            meter,
          );
        bytes.done();
      });
    });
}

// Loads a Python image file (`sbx image create image.py`): the host's python3 evaluates it in a
// subprocess (python/load_image.py), which reports the images it defines as JSON on file
// descriptor 3 (what the file prints goes to stderr and cannot corrupt it), within a time limit.
// Each image is replayed step by step into this CLI's own TypeScript Image, with the Python
// file's lines as sources, so packing, cache keys, progress and errors are those of a .ts file.
import { spawn } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { SbxError, isErrorCode } from "@sbx-sh/protocol";
import { Image, type SourceLocation } from "@sbx-sh/sdk";
import { displayPath } from "@sbx-sh/sdk/internal";
import { imageLoadTimeoutMs, pythonInterpreter } from "./config.js";
import type { FoundImage, LoadedImageFile } from "./image-loader.js";

/**
 * The first of `rels` (relative to this module) where `probe` exists. This module runs from src/,
 * from dist/ (tsc) or from dist/bundle/ (esbuild), in a checkout or an installed package, so the
 * same file is one or two directories further up depending on how the CLI was built.
 */
function findUp(rels: string[], probe: string): string | undefined {
  return rels.map((rel) => fileURLToPath(new URL(rel, import.meta.url))).find((dir) => existsSync(join(dir, probe)));
}

/** The package's python/ directory (shipped at its root, beside dist/ and src/). */
const PYTHON_DIR = findUp(["../python", "../../python"], "load_image.py");
/** Where sbx_sdk is: this checkout's python/src, else the copy packed with the CLI (else python3's own). */
const SDK_SRC = findUp(
  ["../../../python/src", "../../../../python/src", "../python", "../../python"],
  join("sbx_sdk", "__init__.py"),
);
/** The answer is a few KB; a file that writes megabytes to fd 3 is cut off. */
const MAX_ANSWER = 16 * 1024 * 1024;

interface DeclaredStep {
  op: string;
  source?: SourceLocation;
  [key: string]: unknown;
}

interface DeclaredImage {
  name: string;
  tag: string;
  baseImage: string | null;
  source: SourceLocation | null;
  exportName: string;
  via: "export" | "function";
  steps: DeclaredStep[];
}

type Answer = { images: DeclaredImage[] } | { error: { code?: string; message: string; line?: number | null } };

export async function loadPythonImageFile(file: string): Promise<LoadedImageFile> {
  const abs = resolve(file);
  if (!existsSync(abs) || !statSync(abs).isFile())
    throw new SbxError(
      "invalid_argument",
      `image file ${file} does not exist: give the path of a .py file that defines an Image`,
    );
  const answer = await evaluate(abs);
  const shown = displayPath(abs);
  if ("error" in answer) {
    const e = answer.error;
    const where = e.line ? ` (${shown}:${e.line})` : "";
    const code = isErrorCode(e.code) ? e.code : "invalid_argument";
    throw new SbxError(code, `cannot load ${shown}${where}: ${e.message}`, { file: abs, line: e.line ?? null });
  }
  const images: FoundImage[] = answer.images.map((d) => ({
    image: replay(d, shown),
    exportName: d.exportName,
    via: d.via,
  }));
  return { file: abs, images };
}

function evaluate(abs: string): Promise<Answer> {
  const python = pythonInterpreter();
  if (!PYTHON_DIR)
    return Promise.reject(
      new SbxError("internal", "this sbx installation has no python/load_image.py: reinstall @sbx-sh/cli"),
    );
  const args = [join(PYTHON_DIR, "load_image.py"), abs, SDK_SRC ?? ""];
  return new Promise((resolvePromise, reject) => {
    // Its own process group, so a time limit also ends what the file started.
    const child = spawn(python, args, { stdio: ["ignore", 2, "inherit", "pipe"], detached: true });
    const chunks: Buffer[] = [];
    let size = 0;
    let timedOut = false;
    const channel = child.stdio[3] as NodeJS.ReadableStream;
    channel.on("data", (b: Buffer) => {
      size += b.length;
      if (size <= MAX_ANSWER) chunks.push(b);
    });
    const limit = imageLoadTimeoutMs();
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid);
    }, limit);
    child.once("error", (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        err.code === "ENOENT"
          ? new SbxError(
              "failed_precondition",
              `cannot run ${python} to load ${displayPath(abs)}: it is not installed (apt-get install python3, 3.11 or newer) or SBX_PYTHON names another interpreter`,
            )
          : new SbxError("internal", `cannot run ${python}: ${err.message}`),
      );
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      killGroup(child.pid); // anything the file left running in the background
      const shown = displayPath(abs);
      if (timedOut)
        return reject(
          new SbxError(
            "failed_precondition",
            `cannot load ${shown}: evaluating it took longer than ${limit / 1000} s (an endless loop, or work that belongs in a run() step?); SBX_IMAGE_LOAD_TIMEOUT sets the limit in seconds`,
            { file: abs },
          ),
        );
      const text = Buffer.concat(chunks).toString("utf8");
      let answer: Answer | undefined;
      try {
        answer = size <= MAX_ANSWER ? (JSON.parse(text) as Answer) : undefined;
      } catch {
        answer = undefined;
      }
      if (answer && typeof answer === "object" && ("images" in answer || "error" in answer))
        return resolvePromise(answer);
      reject(
        new SbxError(
          "invalid_argument",
          `cannot load ${shown}: ${python} ended (${signal ?? `exit code ${code}`}) without reporting its images; see its output above`,
          { file: abs },
        ),
      );
    });
  });
}

function killGroup(pid: number | undefined): void {
  if (!pid) return;
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // already gone
  }
}

/** The Python image as this CLI's Image: every step checked again by the TypeScript SDK, sourced at its Python line. */
function replay(d: DeclaredImage, shown: string): Image {
  const bad = (m: string) => new SbxError("invalid_argument", `${shown}: image ${String(d.name)}: ${m}`);
  if (!d || typeof d.name !== "string" || !Array.isArray(d.steps)) throw bad("the loader sent a malformed image");
  const img = new Image({
    name: d.name,
    tag: d.tag,
    ...(typeof d.baseImage === "string" ? { baseImage: d.baseImage } : {}),
  });
  (img as { source: SourceLocation | undefined }).source = d.source ?? undefined;
  for (const s of d.steps) {
    const o = { ...(s.source ? { source: s.source } : {}) };
    const own = {
      ...o,
      ...(s.chown ? { chown: s.chown as string } : {}),
      ...(s.chmod ? { chmod: s.chmod as string } : {}),
    };
    switch (s.op) {
      case "run":
        img.run(s.command as string | string[], o);
        break;
      case "env":
        img.env(s.key as string, s.value as string, o);
        break;
      case "workdir":
        img.workdir(s.path as string, o);
        break;
      case "user":
        img.user(s.user as string, o);
        break;
      case "copy":
        img.copy(s.src as string[], s.dest as string, own);
        break;
      case "add":
        img.add(s.src as string[], s.dest as string, own);
        break;
      case "copy_from":
        img.copyFrom(s.image as string, s.paths as string[], s.dest as string, own);
        break;
      case "entrypoint":
        img.entrypoint(s.args as string[], o);
        break;
      case "cmd":
        img.cmd(s.args as string[], o);
        break;
      default:
        throw bad(`unknown step ${JSON.stringify(s.op)}`);
    }
  }
  return img;
}

// Building a base rootfs tar with mmdebstrap: the preflight checks that turn the usual failures
// (tool missing, archive unreachable, keyring missing) into a clear base_image_unavailable error
// in seconds, and the build itself with its output streamed line by line.
import { spawn } from "node:child_process";
import { access, constants } from "node:fs/promises";
import { SbxError } from "@sbx-sh/protocol";
import { hostEnv } from "../config.js";
import { mmdebstrapArgs, type BaseRecipe } from "./base-recipes.js";

/** Writes the recipe's rootfs, as a tar with 0-based ownership, to outTar. Injectable for tests. */
export type BaseImageBuilder = (
  recipe: BaseRecipe,
  outTar: string,
  log: (line: string) => void,
  env: { tmpDir: string },
) => Promise<void>;

const BUILD_TIMEOUT_MS = 30 * 60_000;

/** Throws base_image_unavailable naming the mirror unless `<mirror>/dists/<suite>/Release` answers 200 within the timeout. */
export async function checkMirror(mirror: string, suite: string, timeoutMs = 5000): Promise<void> {
  const url = `${mirror}/dists/${suite}/Release`;
  let status: number | string;
  try {
    // GET rather than HEAD: some mirrors and proxies answer HEAD differently; the body is dropped unread.
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: "follow" });
    status = res.status;
    await res.body?.cancel().catch(() => undefined);
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    status =
      e.name === "TimeoutError"
        ? `no answer within ${timeoutMs / 1000} s`
        : (e.cause?.code ?? e.cause?.message ?? e.message);
  }
  if (status !== 200) {
    throw new SbxError(
      "base_image_unavailable",
      `the archive ${mirror} is not reachable from this host (${url}: ${typeof status === "number" ? `HTTP ${status}` : status})`,
      {
        mirror,
        suite,
      },
    );
  }
}

export async function findProgram(name: string): Promise<string | undefined> {
  for (const dir of (hostEnv().PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin").split(":").concat(["/usr/sbin", "/usr/bin"])) {
    if (!dir) continue;
    const p = `${dir}/${name}`;
    try {
      await access(p, constants.X_OK);
      return p;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/** The real builder: preflight, then `mmdebstrap` with output streamed to `log`. */
export const mmdebstrapBuilder: BaseImageBuilder = async (recipe, outTar, log, env) => {
  const where = `${recipe.mirror} (${recipe.suite})`;
  const mmdebstrap = await findProgram("mmdebstrap");
  if (!mmdebstrap) {
    throw new SbxError(
      "base_image_unavailable",
      `cannot build ${recipe.name} from ${where}: mmdebstrap is not installed (run scripts/setup-host.sh)`,
    );
  }
  await checkMirror(recipe.mirror, recipe.suite);
  if (recipe.keyring) {
    try {
      await access(recipe.keyring, constants.R_OK);
    } catch {
      throw new SbxError(
        "base_image_unavailable",
        `cannot build ${recipe.name} from ${where}: the archive keyring ${recipe.keyring} is missing (install ${recipe.keyringPackage ?? "the distribution's keyring package"}; Debian has it from 13 on, and scripts/setup-host.sh installs it where the archive has it)`,
        { mirror: recipe.mirror, keyring: recipe.keyring },
      );
    }
  }
  const args = mmdebstrapArgs(recipe, outTar);
  log(`mmdebstrap --verbose ${args.map((a) => (/^[\w./:=,+-]+$/.test(a) ? a : JSON.stringify(a))).join(" ")}`);
  const tail: string[] = [];
  const code = await new Promise<number | string>((resolve, reject) => {
    // --verbose: apt's and dpkg's own lines instead of TTY-only bars, which count packages (./base-progress.ts).
    // Passed here, not in mmdebstrapArgs, so the recipe hash (and every cached base) stays as it was.
    const child = spawn(mmdebstrap, ["--verbose", ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      // mmdebstrap's chroot (with /proc, /sys, /dev mounted while it runs) goes under tmpDir.
      env: { ...hostEnv(), TMPDIR: env.tmpDir, LC_ALL: "C.UTF-8" },
      timeout: BUILD_TIMEOUT_MS,
      // SIGTERM lets mmdebstrap unmount and remove its chroot; SIGKILL would leave mounts behind.
      killSignal: "SIGTERM",
    });
    const onLines = (stream: NodeJS.ReadableStream, keep: boolean): void => {
      let buf = "";
      stream.setEncoding("utf8");
      stream.on("data", (s: string) => {
        buf += s;
        const lines = buf.split(/\r?\n|\r/);
        buf = lines.pop() ?? "";
        for (const l of lines) emit(l, keep);
      });
      stream.on("end", () => buf && emit(buf, keep));
    };
    const emit = (line: string, keep: boolean): void => {
      if (!line.trim()) return;
      log(line);
      if (keep) {
        tail.push(line);
        if (tail.length > 15) tail.shift();
      }
    };
    onLines(child.stdout, false);
    onLines(child.stderr, true);
    child.on("error", reject);
    child.on("close", (c, signal) => resolve(c ?? `killed by ${signal ?? "a signal"}`));
  });
  if (code !== 0) {
    throw new SbxError(
      "base_image_unavailable",
      `cannot build ${recipe.name} from ${where}: mmdebstrap failed (${typeof code === "number" ? `exit ${code}` : code}):\n${tail.join("\n")}`,
      {
        mirror: recipe.mirror,
      },
    );
  }
};

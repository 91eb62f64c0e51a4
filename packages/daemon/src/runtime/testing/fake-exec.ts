// How a FakeRuntime sandbox runs a program: argv[0] is found as the kernel and a shell would (a
// path must exist in the sandbox's files, a bare name is looked up in PATH), and the JS program of
// that binary's name runs with the process's output, stdin and signals. Programs that run others
// (sh, busybox) come back here through `exec`.
import { posix } from "node:path";
import type { ProcessSpec } from "../types.js";
import type { FakeFs } from "./fake-fs.js";
import { FakeProcess, type FakeProgram, type ProgramContext } from "./fake-process.js";

/** Starts `spec` as process `procId` of the sandbox whose files are `fs`. */
export function spawnProgram(
  sandboxId: string,
  fs: FakeFs,
  programs: ReadonlyMap<string, FakeProgram>,
  procId: string,
  spec: ProcessSpec,
  onOutput?: (stream: "stdout" | "stderr", data: Buffer) => void,
): FakeProcess {
  return new FakeProcess(sandboxId, procId, spec.stdin, onOutput, (io) => {
    const exec = (argv: string[], over: Partial<ProgramContext> = {}): Promise<number> => {
      const ctx: ProgramContext = { ...io, argv, env: spec.env, cwd: spec.cwd, user: spec.user, fs, exec, ...over };
      ctx.exec = (a, o = {}) => exec(a, { stdout: ctx.stdout, stderr: ctx.stderr, env: ctx.env, cwd: ctx.cwd, ...o });
      const program = lookup(fs, programs, argv[0] ?? "", ctx.env, ctx.cwd);
      if (!program) {
        ctx.stderr(`exec: ${argv[0]}: executable file not found in $PATH\n`);
        return Promise.resolve(127);
      }
      return program(ctx);
    };
    // Every exec of a real process goes through the kernel: never synchronously.
    return Promise.resolve().then(() => exec(spec.argv));
  });
}

function lookup(
  fs: FakeFs,
  programs: ReadonlyMap<string, FakeProgram>,
  name: string,
  env: string[],
  cwd: string,
): FakeProgram | undefined {
  const path =
    [...env]
      .reverse()
      .find((e) => e.startsWith("PATH="))
      ?.slice(5) ?? "/usr/bin:/bin";
  const candidates = name.includes("/") ? [posix.resolve(cwd, name)] : path.split(":").map((d) => posix.join(d, name));
  const found = candidates.find((c) => fs.stat(c)?.type === "file");
  return found === undefined ? undefined : programs.get(posix.basename(found));
}

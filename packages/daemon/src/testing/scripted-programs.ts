// Programs for the SDK's and CLI's tests on the test daemon: stand-ins for the binaries their
// sandboxes and builds run (apt-get, python3, make, readlink) and a few commands with behaviour a
// test needs: `fail N`, output split mid-character (`split`), endless output (`yes`), waiting for
// a signal and saying which (`wait-for-signal`), waiting to be cancelled, echoing what a process
// got (`show-request`).
import { constants } from "node:os";
import { posix } from "node:path";
import type { FakeProgram } from "../runtime/testing/fake-process.js";
import type { FakeFs } from "../runtime/testing/fake-fs.js";

const CATCHABLE = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"] as const;

/** Writes "oops" on stderr and exits with its argument (1 without one). */
const fail: FakeProgram = async (ctx) => {
  ctx.stderr("oops\n");
  return Number(ctx.argv[1] ?? 1);
};

/** Output whose chunks end mid-character, on both streams; exits 3. */
const split: FakeProgram = async (ctx) => {
  const hello = Buffer.from("héllo wörld ");
  const end = Buffer.from("€ end\n");
  ctx.stdout(hello.subarray(0, 8));
  ctx.stdout(hello.subarray(8));
  ctx.stderr("warn ✓\n");
  ctx.stdout(end.subarray(0, 1));
  ctx.stdout(end.subarray(1));
  return 3;
};

/** "y" lines, 8 KiB every 2 ms, until killed (SIGPIPE included, as its default action). */
const yes: FakeProgram = async (ctx) => {
  const chunk = "y\n".repeat(4096);
  for (;;) {
    ctx.stdout(chunk);
    await Promise.race([new Promise((r) => setTimeout(r, 2)), ctx.killed]);
  }
};

/** Waits for a signal; a catchable one is reported on stderr ("got SIGINT") and ends it as it would a program. */
const waitForSignal: FakeProgram = (ctx) =>
  new Promise<number>((resolve, reject) => {
    for (const sig of CATCHABLE)
      ctx.onSignal(sig, () => {
        ctx.stderr(`got ${sig}\n`);
        resolve(128 + constants.signals[sig]);
      });
    ctx.killed.catch(reject);
  });

/** Says it waits, then waits until killed (a build step that only a cancel ends). */
const waitForCancel: FakeProgram = async (ctx) => {
  ctx.stdout("waiting to be cancelled\n");
  return ctx.killed;
};

/** What the process got from the daemon: argv, working dir, user and environment, as JSON. */
const showRequest: FakeProgram = async (ctx) => {
  ctx.stdout(JSON.stringify({ argv: ctx.argv, cwd: ctx.cwd, user: ctx.user, env: ctx.env }));
  return 0;
};

/** `readlink -f [--] PATH`: the path with every symlink resolved, in the sandbox's files. */
const readlink: FakeProgram = async (ctx) => {
  const path = ctx.argv.at(-1) ?? "";
  ctx.stdout(`${canonical(ctx.fs, posix.resolve(ctx.cwd, path))}\n`);
  return 0;
};

function canonical(fs: FakeFs, path: string): string {
  const parts = path.split("/").filter(Boolean);
  let out = "/";
  for (let hops = 0; parts.length > 0;) {
    const part = parts.shift()!;
    if (part === ".") continue;
    if (part === "..") {
      out = posix.dirname(out);
      continue;
    }
    const next = posix.join(out, part);
    const node = fs.stat(next, false);
    if (node?.type === "symlink" && hops++ < 40) {
      parts.unshift(...node.target.split("/").filter(Boolean));
      if (node.target.startsWith("/")) out = "/";
    } else out = next;
  }
  return out;
}

/** apt-get: says what it would do, does nothing. */
const aptGet: FakeProgram = async (ctx) => {
  const [cmd, ...args] = ctx.argv.slice(1);
  if (cmd === "update") ctx.stdout("Reading package lists... Done\n");
  if (cmd === "install") for (const p of args.filter((a) => !a.startsWith("-"))) ctx.stdout(`Setting up ${p}\n`);
  return 0;
};

/** make: compiles nothing, with a warning on stderr. */
const make: FakeProgram = async (ctx) => {
  ctx.stdout("cc -o app main.c\n");
  ctx.stderr("boom: it broke\n");
  return 0;
};

export function scriptedPrograms(): Map<string, FakeProgram> {
  return new Map<string, FakeProgram>([
    ["fail", fail],
    ["split", split],
    ["yes", yes],
    ["wait-for-signal", waitForSignal],
    ["wait-for-cancel", waitForCancel],
    ["show-request", showRequest],
    ["readlink", readlink],
    ["apt-get", aptGet],
    ["python3", async () => 0],
    ["make", make],
  ]);
}

// The binaries of FakeRuntime's sandboxes, as JS functions: echo, cat, sleep, true, false, pwd,
// env, mkdir, busybox (dispatching to its applet) and a small `sh -c` that understands what tests
// write: `;`, newlines and `&&` between commands, quotes, $VAR and $1 expansion, `>&2`, `>file`,
// `>>file`, `exit N` and `trap 'cmd' SIG`. Tests add programs of their own through FakeRuntime.
import { posix } from "node:path";
import type { FakeProgram, ProgramContext } from "./fake-process.js";

function envGet(env: string[], name: string): string {
  const hit = [...env].reverse().find((e) => e.startsWith(`${name}=`));
  return hit ? hit.slice(name.length + 1) : "";
}

const echo: FakeProgram = async (ctx) => {
  const args = ctx.argv.slice(1);
  const newline = args[0] !== "-n";
  ctx.stdout(args.slice(newline ? 0 : 1).join(" ") + (newline ? "\n" : ""));
  return 0;
};

const cat: FakeProgram = async (ctx) => {
  const files = ctx.argv.slice(1).filter((a) => a !== "--");
  if (files.length === 0) {
    for (let c = await ctx.readStdin(); c !== null; c = await ctx.readStdin()) ctx.stdout(c);
    return 0;
  }
  let code = 0;
  for (const f of files) {
    try {
      ctx.stdout(ctx.fs.readFile(posix.resolve(ctx.cwd, f)));
    } catch {
      ctx.stderr(`cat: ${f}: No such file or directory\n`);
      code = 1;
    }
  }
  return code;
};

const sleep: FakeProgram = async (ctx) => {
  const secs = Number(ctx.argv[1] ?? "0");
  await Promise.race([new Promise((r) => setTimeout(r, secs * 1000).unref()), ctx.killed]);
  return 0;
};

const mkdir: FakeProgram = async (ctx) => {
  for (const d of ctx.argv.slice(1).filter((a) => !a.startsWith("-"))) ctx.fs.mkdirp(posix.resolve(ctx.cwd, d));
  return 0;
};

const busybox: FakeProgram = (ctx) => ctx.exec(ctx.argv.slice(1));

/** Words of one command: quotes removed, $NAME, ${NAME} and $1.. expanded (not inside single quotes). */
function words(command: string, ctx: ProgramContext, params: string[]): string[] {
  const out: string[] = [];
  let cur: string | undefined;
  const expand = (s: string): string =>
    s.replace(/\$(\{(\w+)\}|(\d)|(\w+)|\?)/g, (m, _a, braced: string, digit: string, name: string) =>
      digit !== undefined ? (params[Number(digit)] ?? "") : m === "$?" ? "0" : envGet(ctx.env, braced ?? name),
    );
  for (const m of command.matchAll(/'([^']*)'|"((?:[^"\\]|\\.)*)"|(\s+)|([^\s'"]+)/g)) {
    if (m[3] !== undefined) {
      if (cur !== undefined) out.push(cur);
      cur = undefined;
    } else cur = (cur ?? "") + (m[1] ?? expand(m[2] ?? m[4] ?? ""));
  }
  if (cur !== undefined) out.push(cur);
  return out;
}

/** Output redirected to a file of the sandbox (truncated first unless appending). */
function appender(ctx: ProgramContext, path: string, append: boolean): (d: Buffer | string) => void {
  if (!append) ctx.fs.writeFile(path, Buffer.alloc(0));
  return (d) => {
    const before = ctx.fs.stat(path)?.type === "file" ? ctx.fs.readFile(path) : Buffer.alloc(0);
    ctx.fs.writeFile(path, Buffer.concat([before, Buffer.from(d)]));
  };
}

class Exit {
  constructor(readonly code: number) {}
}

const sh: FakeProgram = async (ctx) => {
  if (ctx.argv[1] !== "-c" || ctx.argv[2] === undefined) {
    ctx.stderr("sh: the fake shell only runs sh -c SCRIPT\n");
    return 2;
  }
  const params = ctx.argv.slice(3);
  let trapped: ((e: Exit) => void) | undefined;
  const trapExit = new Promise<Exit>((r) => (trapped = r));
  let status = 0;
  const runOne = async (command: string): Promise<number> => {
    const argv = words(command, ctx, params);
    const over: Parameters<ProgramContext["exec"]>[1] = {};
    const plain: string[] = [];
    for (let i = 0; i < argv.length; i++) {
      const w = argv[i]!;
      const redirect = /^(1|2)?(>>?)(.*)$/.exec(w);
      if (!redirect) {
        plain.push(w);
        continue;
      }
      const [, fd = "1", op, rest] = redirect;
      const target = rest || argv[++i] || "";
      const sink =
        target === "&2"
          ? ctx.stderr
          : target === "&1"
            ? ctx.stdout
            : target === "/dev/null"
              ? () => undefined
              : appender(ctx, posix.resolve(ctx.cwd, target), op === ">>");
      if (fd === "2") over.stderr = sink;
      else over.stdout = sink;
    }
    const [cmd, ...args] = plain;
    if (cmd === undefined || cmd === ":") return 0;
    if (cmd === "exit") throw new Exit(args[0] === undefined ? status : Number(args[0]));
    if (cmd === "trap") {
      const [action = "", ...sigs] = args;
      for (const s of sigs)
        ctx.onSignal((s.startsWith("SIG") ? s : `SIG${s}`) as NodeJS.Signals, () => {
          void run(action).then(
            (code) => trapped?.(new Exit(code)),
            (e: unknown) => e instanceof Exit && trapped?.(e),
          );
        });
      return 0;
    }
    return ctx.exec(plain, over);
  };
  const run = async (script: string): Promise<number> => {
    for (const line of script.split(/\n|;/)) {
      for (const part of line.split("&&")) {
        status = await runOne(part.trim());
        if (status !== 0) break;
      }
    }
    return status;
  };
  const result = await Promise.race([
    run(ctx.argv[2]).catch((e: unknown) => {
      if (e instanceof Exit) return e;
      throw e;
    }),
    trapExit,
  ]);
  return result instanceof Exit ? result.code : result;
};

/** The programs every fake sandbox has, by base name. */
export function defaultPrograms(): Map<string, FakeProgram> {
  return new Map<string, FakeProgram>([
    ["echo", echo],
    ["cat", cat],
    ["sleep", sleep],
    ["true", async () => 0],
    ["false", async () => 1],
    ["pwd", async (ctx) => (ctx.stdout(`${ctx.cwd}\n`), 0)],
    ["env", async (ctx) => (ctx.stdout(ctx.env.map((e) => `${e}\n`).join("")), 0)],
    ["mkdir", mkdir],
    ["busybox", busybox],
    ["sh", sh],
    ["bash", sh],
  ]);
}

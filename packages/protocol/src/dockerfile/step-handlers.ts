// One handler per Dockerfile instruction that adds steps to the current stage (RUN, CMD,
// ENTRYPOINT, SHELL, ENV, WORKDIR, USER, COPY, ADD), as BuildKit's instructions package has a parser
// per command. FROM and ARG shape stages and scopes, and stay in parser.ts.
import type { SbxError } from "../errors.js";
import { splitWords, type Lookup } from "./expand.js";
import { copyStep, heredocScript, jsonArray, runCommand, shellArgs, USER_RE } from "./instructions.js";
import type { Instruction } from "./scan.js";
import type { DockerfileSource, DockerfileStep, Stage } from "./types.js";

export const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Build args every Dockerfile may use without declaring them, as Docker passes them to RUN. */
export const PROXY_ARGS = ["HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "ALL_PROXY"].flatMap((n) => [
  n,
  n.toLowerCase(),
]);

/** What a stage has in force while its instructions are read. */
export interface Scope {
  /** ENV values, including the base image's or parent stage's. */
  env: Map<string, string>;
  /** ARGs declared in this stage; undefined when declared without a value. */
  args: Map<string, string | undefined>;
  shell: string[];
}

/** One instruction in its stage, with the parser's helpers for errors and substitution. */
export interface StepContext {
  ins: Instruction;
  /** The keyword as Docker prints it (RUN). */
  kw: string;
  /** The instruction's text after its flags. */
  rest: string;
  flags: Map<string, string | undefined>;
  scope: Scope;
  stages: Stage[];
  source: DockerfileSource;
  buildArgs: Map<string, string>;
  /** The file's escape character (`# escape=`). */
  escape: string;
  lookup: Lookup;
  fail(message: string): SbxError;
  expand(word: string, lookup: Lookup): string;
  push(step: DockerfileStep): void;
}

type Handler = (cx: StepContext) => void;

const run: Handler = ({ ins, rest, scope, buildArgs, source, fail, push }) => {
  const exec = jsonArray(rest);
  if (ins.heredocs.length && exec) throw fail("heredocs need the shell form");
  if (exec && (!exec.length || !exec[0])) throw fail('the exec form needs a program: RUN ["program", "arg"...]');
  const command = ins.heredocs.length ? heredocScript(rest, ins.heredocs) : (exec ?? rest);
  if (!command.length) throw fail("give a command");
  push({ op: "run", command: runCommand(command, scope.shell, runArgs(scope, buildArgs)), source });
};

const cmdOrEntrypoint: Handler = ({ ins, kw, rest, scope, source, fail, push }) => {
  if (!rest) throw fail(`give a command: ${kw} ["program", "arg"...] or ${kw} command`);
  push({ op: ins.keyword as "cmd" | "entrypoint", args: shellArgs(rest, scope.shell), source });
};

const shell: Handler = ({ rest, scope, fail }) => {
  const argv = jsonArray(rest);
  if (!argv?.length) throw fail('use the JSON form: SHELL ["/bin/bash", "-c"]');
  scope.shell = argv;
};

const env: Handler = ({ rest, escape, scope, source, lookup, fail, expand, push }) => {
  const words = splitWords(rest, escape);
  if (!words.length) throw fail("give a name and a value: ENV NAME=value");
  let pairs: Array<[string, string]>;
  if (!words[0]!.includes("=")) {
    // The legacy form `ENV NAME value`: the value is the rest of the line.
    const m = /^(\S+)\s+([\s\S]+)$/.exec(rest);
    if (!m) throw fail(`give ${words[0]} a value: ENV ${words[0]}=value`);
    pairs = [[m[1]!, m[2]!]];
  } else {
    pairs = words.map((w) => {
      const eq = w.indexOf("=");
      if (eq === -1) throw fail(`can't find = in ${JSON.stringify(w)}: use NAME=value`);
      return [w.slice(0, eq), w.slice(eq + 1)];
    });
  }
  // Every value is substituted before any is set: `ENV A=1 B=$A` gives B the earlier A.
  const set = pairs.map(([k, v]): [string, string] => [expand(k, lookup), expand(v, lookup)]);
  for (const [key, value] of set) {
    if (!NAME_RE.test(key))
      throw fail(`invalid variable name ${JSON.stringify(key)}: letters, digits and _, not starting with a digit`);
    push({ op: "env", key, value, source });
    scope.env.set(key, value);
  }
};

const workdir: Handler = ({ rest, source, lookup, fail, expand, push }) => {
  const path = expand(rest, lookup);
  if (!path) throw fail("give a directory: WORKDIR /app");
  push({ op: "workdir", path, source });
};

const user: Handler = ({ rest, source, lookup, fail, expand, push }) => {
  const name = expand(rest, lookup);
  if (!USER_RE.test(name))
    throw fail(`invalid user ${JSON.stringify(name)}: use name, uid, name:group or uid:gid (names in lowercase)`);
  push({ op: "user", user: name, source });
};

const copyOrAdd: Handler = ({ ins, rest, flags, stages, source, lookup, fail, expand, push }) => {
  const step = copyStep(ins, rest, flags, (w) => expand(w, lookup), fail, stages.length - 1, source);
  push(withFromStage(step, stages, fail));
};

export const STEP_HANDLERS: Record<string, Handler> = {
  run,
  cmd: cmdOrEntrypoint,
  entrypoint: cmdOrEntrypoint,
  shell,
  env,
  workdir,
  user,
  copy: copyOrAdd,
  add: copyOrAdd,
};

/** `COPY --from=<name|index>` of an earlier stage is marked with its index; anything else names an image. */
function withFromStage(step: DockerfileStep, stages: Stage[], fail: (message: string) => SbxError): DockerfileStep {
  if ((step.op !== "copy" && step.op !== "add") || step.from === undefined) return step;
  if (step.op === "add") throw fail("ADD --from is not a Dockerfile flag: use COPY --from");
  const current = stages.length - 1;
  if (/^\d+$/.test(step.from)) return { ...step, fromStage: Number(step.from) };
  const name = step.from.toLowerCase();
  if (stages[current]?.name === name) throw fail(`--from=${step.from}: a stage cannot copy from itself`);
  const i = stages.findIndex((s, j) => j < current && s.name === name);
  return i >= 0 ? { ...step, fromStage: i } : step;
}

/** ARG values in a RUN's environment: the stage's ARGs that have a value and no ENV of the same name, and proxy build args. */
function runArgs(scope: Scope, buildArgs: Map<string, string>): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const [k, v] of scope.args) if (v !== undefined && !scope.env.has(k)) out.push([k, v]);
  for (const k of PROXY_ARGS) {
    if (buildArgs.has(k) && !scope.args.has(k) && !scope.env.has(k)) out.push([k, buildArgs.get(k)!]);
  }
  return out;
}

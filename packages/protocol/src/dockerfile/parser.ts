// The Dockerfile front end: parses a Dockerfile into build stages of IR-ready steps (each with its
// Dockerfile line as source), doing Docker's ARG/ENV substitution; flattenDockerfile() then picks
// the stage to build and concatenates the stages it is FROM, refusing what sbx cannot build yet.
import { DEFAULT_PATH } from "../env.js";
import { SbxError } from "../errors.js";
import { processWord, splitWords, WordError, type Lookup } from "./expand.js";
import { checkMount, DEFAULT_SHELL, editDistance, extractFlags } from "./instructions.js";
import { dockerfileError, scanDockerfile, type Instruction } from "./scan.js";
import { NAME_RE, PROXY_ARGS, STEP_HANDLERS, type Scope } from "./step-handlers.js";
export { flattenDockerfile } from "./stages.js";

export type {
  DockerfileSource,
  DockerfileStep,
  DockerfileWarning,
  ParsedDockerfile,
  ParseOptions,
  Stage,
} from "./types.js";
import type { DockerfileWarning, ParsedDockerfile, ParseOptions, Stage } from "./types.js";

const IGNORED: Record<string, string> = {
  label: "LABEL is ignored: sbx images have no labels yet",
  expose: "EXPOSE is ignored: sandboxes do not publish ports from image metadata",
  volume: "VOLUME is ignored: the directory stays part of the image (sbx has no volumes)",
  stopsignal: "STOPSIGNAL is ignored: sbx stops sandboxes its own way",
  healthcheck: "HEALTHCHECK is ignored: sbx does not run health checks",
  onbuild: "ONBUILD is ignored: sbx images carry no triggers for images built on them",
  maintainer: "MAINTAINER is ignored (deprecated in Docker too)",
};
const KNOWN = [
  "from",
  "run",
  "cmd",
  "entrypoint",
  "env",
  "arg",
  "workdir",
  "user",
  "copy",
  "add",
  "shell",
  ...Object.keys(IGNORED),
];
/** Flags each instruction takes; `warn` ones are accepted and ignored, `reject` ones are refused. */
const FLAGS: Record<string, { ok?: string[]; warn?: string[]; reject?: string[] }> = {
  from: { warn: ["platform"] },
  run: { ok: ["mount"], warn: ["network"], reject: ["security", "device"] },
  copy: { ok: ["from", "chown", "chmod"], warn: ["link"], reject: ["parents", "exclude"] },
  add: { ok: ["chown", "chmod"], warn: ["link"], reject: ["checksum", "keep-git-dir", "exclude", "unpack"] },
};
const IGNORED_FLAGS: Record<string, string> = {
  platform: "sbx builds for the daemon's machine",
  network: "RUN has the network build steps always have",
  link: "the result is the same without it",
};
const STAGE_RE = /^[a-z][a-z0-9._-]*$/;

export function parseDockerfile(text: string, o: ParseOptions): ParsedDockerfile {
  const file = o.fileName;
  const scanned = scanDockerfile(text, file);
  const esc = scanned.escape;
  const warnings: DockerfileWarning[] = scanned.notes.map((n) => ({ file, line: n.line, message: n.message }));
  const buildArgs = new Map(Object.entries(o.buildArgs));
  const used = new Set<string>();
  const globals = new Map<string, string | undefined>(platformArgs(o.platform));
  const stages: Stage[] = [];
  const scopes: Scope[] = [];

  for (const ins of scanned.instructions) {
    const kw = ins.keyword.toUpperCase();
    const fail = (message: string) => dockerfileError(file, ins.line, `${kw}: ${message}`);
    const expand = (word: string, lookup: Lookup) => {
      try {
        return processWord(word, lookup, { escape: esc });
      } catch (err) {
        throw err instanceof WordError ? fail(err.message) : err;
      }
    };
    if (!KNOWN.includes(ins.keyword))
      throw dockerfileError(file, ins.line, `unknown instruction ${ins.written}${suggest(ins.keyword)}`);
    // Ignored instructions keep their flags (HEALTHCHECK --interval=...) unchecked.
    const { flags, rest } =
      ins.keyword in IGNORED
        ? { flags: new Map<string, string | undefined>(), rest: ins.rest }
        : checkFlags(ins, fail, (m) => warnings.push({ file, line: ins.line, message: m }));
    const stage = stages.at(-1);
    const scope = scopes.at(-1);
    const source = { file, line: ins.line };
    const lookup: Lookup = (n) => (scope ? (scope.env.has(n) ? scope.env.get(n) : scope.args.get(n)) : globals.get(n));

    if (ins.keyword === "from") {
      const words = rest.split(/\s+/).filter(Boolean);
      if (!(words.length === 1 || (words.length === 3 && words[1]!.toLowerCase() === "as")))
        throw fail("use FROM <image> [AS <name>]");
      const from = expand(words[0]!, (n) => globals.get(n));
      if (!from) throw fail(`the image name ${words[0]} is empty once substituted`);
      const name = words[2]?.toLowerCase();
      if (name !== undefined && !STAGE_RE.test(name))
        throw fail(`invalid stage name ${words[2]}: letters, digits, '.', '_' and '-', starting with a letter`);
      if (name !== undefined && stages.some((s) => s.name === name)) throw fail(`a stage named ${name} already exists`);
      const parent = stages.findIndex((s) => s.name === from.toLowerCase());
      const inherited = parent >= 0 ? scopes[parent]! : undefined;
      const env = inherited ? inherited.env : Object.entries(o.baseEnv?.(from) ?? { PATH: DEFAULT_PATH });
      scopes.push({ env: new Map(env), args: new Map(), shell: inherited ? inherited.shell : DEFAULT_SHELL });
      stages.push({
        ...(name !== undefined && { name }),
        from: parent >= 0 ? stages[parent]!.name! : from,
        ...(parent >= 0 && { parent }),
        source,
        steps: [],
      });
      continue;
    }
    if (ins.keyword === "arg") {
      const words = splitWords(rest, esc);
      if (!words.length) throw fail("give a name: ARG NAME[=default]");
      // As BuildKit does: global ARGs are set one by one, a stage's all at once (`ARG A=1 B=$A` gives B the earlier A).
      const declared: Array<[string, string | undefined]> = [];
      for (const w of words) {
        const eq = w.indexOf("=");
        const name = eq === -1 ? w : w.slice(0, eq);
        if (!NAME_RE.test(name)) throw fail(`invalid ARG name ${JSON.stringify(name)}`);
        const def = eq === -1 ? undefined : expand(w.slice(eq + 1), lookup);
        used.add(name);
        const value = buildArgs.has(name) ? buildArgs.get(name) : (def ?? (scope ? globals.get(name) : undefined));
        if (scope) declared.push([name, value]);
        else globals.set(name, value);
      }
      for (const [name, value] of declared) scope!.args.set(name, value);
      continue;
    }
    if (!stage || !scope)
      throw fail("comes before the first FROM: a Dockerfile starts with FROM <image> (only ARG may come before it)");
    if (ins.keyword in IGNORED) {
      warnings.push({ file, line: ins.line, message: IGNORED[ins.keyword]! });
      continue;
    }
    STEP_HANDLERS[ins.keyword]!({
      ins,
      kw,
      rest,
      flags,
      scope,
      stages,
      source,
      buildArgs,
      escape: esc,
      lookup,
      fail,
      expand,
      push: (step) => stage.steps.push(step),
    });
  }

  if (!stages.length)
    throw dockerfileError(file, scanned.instructions[0]?.line ?? 1, "no FROM: a Dockerfile starts with FROM <image>");
  for (const name of buildArgs.keys()) {
    if (!used.has(name) && !PROXY_ARGS.includes(name))
      warnings.push({ file, message: `--build-arg ${name} was not used: the Dockerfile declares no ARG ${name}` });
  }
  return { stages, target: targetIndex(stages, o.target, file), warnings };
}

function checkFlags(
  ins: Instruction,
  fail: (message: string) => SbxError,
  warn: (m: string) => void,
): { flags: Map<string, string | undefined>; rest: string } {
  const { flags, rest } = extractFlags(ins.rest);
  const allowed = FLAGS[ins.keyword] ?? {};
  const out = new Map<string, string | undefined>();
  for (const f of flags) {
    if (allowed.warn?.includes(f.name))
      warn(`${ins.keyword.toUpperCase()} --${f.name} is ignored: ${IGNORED_FLAGS[f.name]}`);
    else if (allowed.reject?.includes(f.name)) throw fail(`--${f.name} is not supported yet`);
    else if (!allowed.ok?.includes(f.name)) throw fail(`unknown flag --${f.name}`);
    else if (f.name === "mount")
      checkMount(f.value ?? "", fail, warn); // may be given several times
    else if (out.has(f.name)) throw fail(`--${f.name} is given twice`);
    else out.set(f.name, f.value);
  }
  return { flags: out, rest };
}

function targetIndex(stages: Stage[], target: string | undefined, file: string): number {
  if (target === undefined) return stages.length - 1;
  const i = stages.findIndex((s) => s.name === target.toLowerCase());
  if (i >= 0) return i;
  const names = stages.flatMap((s) => (s.name ? [s.name] : []));
  throw new SbxError(
    "invalid_argument",
    `${file}: no stage named ${target} (${names.length ? `its stages: ${names.join(", ")}` : "it names no stages: FROM <image> AS <name>"})`,
    { file, target },
  );
}

/** BuildKit's automatic platform ARGs, usable in FROM and, once declared with ARG, in a stage. */
function platformArgs(p: ParseOptions["platform"]): Array<[string, string]> {
  const archs: Record<string, [string, string?]> = {
    x64: ["amd64"],
    arm64: ["arm64"],
    arm: ["arm", "v7"],
    ia32: ["386"],
    ppc64: ["ppc64le"],
    s390x: ["s390x"],
    riscv64: ["riscv64"],
  };
  const [arch, variant] = p ? [p.arch, p.variant] : (archs[process.arch] ?? [process.arch]);
  const platform = `linux/${arch}${variant ? `/${variant}` : ""}`;
  const os = p?.os ?? "linux";
  return [
    ["TARGETPLATFORM", platform],
    ["TARGETOS", os],
    ["TARGETARCH", arch],
    ["TARGETVARIANT", variant ?? ""],
    ["BUILDPLATFORM", platform],
    ["BUILDOS", os],
    ["BUILDARCH", arch],
    ["BUILDVARIANT", variant ?? ""],
  ];
}

function suggest(keyword: string): string {
  const best = KNOWN.map((k) => [k, editDistance(keyword, k)] as const).sort((a, b) => a[1] - b[1])[0];
  return best && best[1] <= 2 ? ` (did you mean ${best[0].toUpperCase()}?)` : "";
}

// `sbx completion bash|zsh|fish`: a completion script for the shell, generated from the command
// tree itself (commands, subcommands and their flags), so it never lists a command that does not
// exist. The script is static: completing costs no sbx process.
import { type Command, InvalidArgumentError } from "commander";

interface Node {
  path: string;
  description: string;
  subcommands: string[];
  flags: string[];
}

function nodes(cmd: Command, prefix: string[] = [], out: Node[] = []): Node[] {
  const path = [...prefix, cmd.name()].slice(1);
  const flags: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent)
    for (const o of c.options) for (const f of [o.long, o.short]) if (f && !flags.includes(f)) flags.push(f);
  const visible = cmd.commands.filter((c) => !(c as unknown as { _hidden: boolean })._hidden);
  out.push({
    path: path.join(" "),
    description: cmd.description(),
    subcommands: visible.flatMap((c) => [c.name(), ...c.aliases()]),
    flags: [...flags, "--help"],
  });
  for (const sub of visible) nodes(sub, [...prefix, cmd.name()], out);
  return out;
}

function bash(tree: Node[]): string {
  const cases = tree.map((n) => `    "${n.path}") words="${[...n.subcommands, ...n.flags].join(" ")}" ;;`).join("\n");
  return `# sbx completion for bash: source <(sbx completion bash), or save it to
# /etc/bash_completion.d/sbx
_sbx() {
  local cur path="" w i words
  cur="\${COMP_WORDS[COMP_CWORD]}"
  # The command path so far: the words that are (sub)commands, flags and values skipped.
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    [[ "$w" == -* ]] && continue
    case "$(_sbx_words "\${path}")" in
      *" $w "*) path="\${path:+$path }$w" ;;
    esac
  done
  words="$(_sbx_words "$path")"
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
_sbx_words() {
  local words
  case "$1" in
${cases}
  esac
  echo " $words "
}
complete -o default -F _sbx sbx
`;
}

function zsh(tree: Node[]): string {
  return `#compdef sbx
# sbx completion for zsh: sbx completion zsh > "\${fpath[1]}/_sbx", or source <(sbx completion zsh)
${bash(tree).replace("complete -o default -F _sbx sbx\n", "")}
autoload -U +X bashcompinit && bashcompinit
complete -o default -F _sbx sbx
`;
}

function fish(tree: Node[]): string {
  const lines = [
    "# sbx completion for fish: sbx completion fish > ~/.config/fish/completions/sbx.fish",
    "complete -c sbx -f",
  ];
  const quote = (s: string) => `'${s.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
  for (const n of tree) {
    const words = n.path ? n.path.split(" ") : [];
    // Offer a node's subcommands once exactly its path has been typed.
    const cond = words.length ? `__fish_seen_subcommand_from ${words.at(-1)}` : "__fish_use_subcommand";
    for (const sub of n.subcommands) {
      const child = tree.find((c) => c.path === [...words, sub].join(" "));
      lines.push(`complete -c sbx -n ${quote(cond)} -a ${sub}${child ? ` -d ${quote(child.description)}` : ""}`);
    }
    if (words.length)
      for (const f of n.flags.filter((x) => x.startsWith("--")))
        lines.push(`complete -c sbx -n ${quote(`__fish_seen_subcommand_from ${words.at(-1)}`)} -l ${f.slice(2)}`);
  }
  return `${lines.join("\n")}\n`;
}

const SHELLS = { bash, zsh, fish } as const;

export function registerCompletionCommand(program: Command): void {
  program
    .command("completion")
    .description("print a shell completion script (bash, zsh or fish)")
    .argument("<shell>", "bash, zsh or fish", (v: string) => {
      if (!(v in SHELLS)) throw new InvalidArgumentError(`expected bash, zsh or fish, got ${JSON.stringify(v)}`);
      return v as keyof typeof SHELLS;
    })
    .addHelpText(
      "after",
      `
Examples:
  $ source <(sbx completion bash)                            # this shell; add it to ~/.bashrc to keep it
  $ sbx completion zsh > "\${fpath[1]}/_sbx"
  $ sbx completion fish > ~/.config/fish/completions/sbx.fish`,
    )
    .action((shell: keyof typeof SHELLS, _o: unknown, cmd: Command) => {
      let root = cmd;
      while (root.parent) root = root.parent;
      process.stdout.write(SHELLS[shell](nodes(root)));
    });
}

// Walks the whole command tree: every command that prints objects takes --json and -q, and the
// ones that stream bytes refuse --json instead of ignoring it. Also the completion scripts, which
// are generated from the same tree.
import { spawnSync } from "node:child_process";
import type { Command } from "commander";
import { afterEach, describe, expect, it, vi } from "vitest";
import { buildProgram, main } from "./main.js";
import { commandPath, REPORT_COMMANDS, STREAM_COMMANDS } from "./output-kinds.js";

function leaves(cmd: Command, out: Command[] = []): Command[] {
  for (const sub of cmd.commands) {
    if ((sub as unknown as { _actionHandler: unknown })._actionHandler) out.push(sub);
    leaves(sub, out);
  }
  return out;
}

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(process.stdout, "write").mockImplementation((s) => (out.push(String(s)), true));
  vi.spyOn(process.stderr, "write").mockImplementation((s) => (err.push(String(s)), true));
  return { out, err };
}
afterEach(() => vi.restoreAllMocks());

const program = await buildProgram();

describe("--json and -q across the command tree", () => {
  const all = leaves(program);
  const paths = all.map(commandPath);

  it("names only commands that exist", () => {
    for (const p of [...STREAM_COMMANDS, ...REPORT_COMMANDS]) expect(paths).toContain(p);
  });

  it("gives every command that prints objects both --json and -q", () => {
    const objects = all.filter((c) => !STREAM_COMMANDS.has(commandPath(c)) && !REPORT_COMMANDS.has(commandPath(c)));
    expect(objects.length).toBeGreaterThan(30);
    const missing = objects
      .filter((c) => commandPath(c) !== "exec")
      .filter((c) => !c.options.some((o) => o.short === "-q") || !c.options.some((o) => o.long === "--json"))
      .map(commandPath);
    expect(missing).toEqual([]);
  });

  it("refuses --json where stdout is a stream, before doing anything", async () => {
    const args: Record<string, string[]> = {
      run: ["run", "--json", "--", "true"],
      shell: ["shell", "sb-x", "--json"],
      logs: ["logs", "sb-x", "--json"],
      "image logs": ["image", "logs", "bd-x", "--json"],
      completion: ["completion", "bash", "--json"],
      exec: ["exec", "--json", "sb-x", "--", "true"],
    };
    for (const p of [...STREAM_COMMANDS, "exec"]) {
      expect(args[p], `arguments for ${p}`).toBeDefined();
      const { out, err } = capture();
      const code = await main(args[p]!);
      vi.restoreAllMocks();
      expect(code, p).not.toBe(0);
      expect(err.join(""), p).toMatch(/--json: `sbx /);
      expect(out.join(""), p).toBe("");
    }
  });
});

describe("sbx completion", () => {
  it("completes commands, subcommands and flags in bash", async () => {
    const { out } = capture();
    expect(await main(["completion", "bash"])).toBe(0);
    vi.restoreAllMocks();
    const script = out.join("");
    const complete = (words: string[]) =>
      spawnSync(
        "bash",
        [
          "-c",
          `${script}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${words.length - 1}; _sbx; echo "\${COMPREPLY[*]}"`,
        ],
        { encoding: "utf8" },
      ).stdout.trim();
    expect(complete(["sbx", "proj"])).toBe("project");
    expect(complete(["sbx", "token", "re"])).toBe("revoke");
    expect(complete(["sbx", "--json", "image", "ls", "--qu"])).toBe("--quiet");
    expect(complete(["sbx", "ls", "--fil"])).toBe("--filter");
  });

  it("prints zsh and fish scripts and refuses other shells", async () => {
    for (const shell of ["zsh", "fish"]) {
      const { out } = capture();
      expect(await main(["completion", shell])).toBe(0);
      vi.restoreAllMocks();
      expect(out.join("")).toMatch(shell === "zsh" ? /#compdef sbx[\s\S]*context/ : /complete -c sbx .* -a context/);
    }
    const { err } = capture();
    expect(await main(["completion", "tcsh"])).not.toBe(0);
    vi.restoreAllMocks();
    expect(err.join("")).toMatch(/expected bash, zsh or fish/);
  });
});

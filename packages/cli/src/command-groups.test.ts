// The lazy command table must say exactly what each module registers: a name missing from it would
// make `sbx <name>` load every group (slow, but right), and a wrong name would make it load the wrong
// one and fail as an unknown command. Also: a run loads only its command's group.
import { Command } from "commander";
import { describe, expect, it } from "vitest";
import { COMMAND_GROUPS, commandWordOf, groupsFor } from "./command-groups.js";
import { buildProgram } from "./main.js";

const topNames = (cmd: Command): string[] => cmd.commands.flatMap((c) => [c.name(), ...c.aliases()]);

describe("command groups", () => {
  it("name exactly the commands and aliases their modules register", async () => {
    for (const group of COMMAND_GROUPS) {
      const program = new Command("sbx").enablePositionalOptions();
      (await group.load())(program);
      expect(topNames(program).sort()).toEqual([...group.names].sort());
    }
  });

  it("together are the whole program, each name in one group", async () => {
    const all = COMMAND_GROUPS.flatMap((g) => g.names);
    expect(new Set(all).size).toBe(all.length);
    expect(topNames(await buildProgram()).sort()).toEqual([...all].sort());
  });

  it("load only the group of the command that runs", async () => {
    const ls = await buildProgram(["--project", "exec", "ls", "-q"]);
    expect(topNames(ls).sort()).toEqual([...COMMAND_GROUPS[0]!.names].sort());
    const image = await buildProgram(["image", "ls"]);
    expect(image.commands.map((c) => c.name())).toEqual(["image"]);
    // `image register` and `image export|import|push|pull` come with it.
    expect(image.commands[0]!.commands.map((c) => c.name())).toEqual(
      expect.arrayContaining(["create", "ls", "register", "export", "import", "push", "pull"]),
    );
  });

  it("load everything for help, a typo and completion", () => {
    for (const args of [[], ["--help"], ["help", "ls"], ["lss"], ["completion", "bash"], ["--host", "x"]])
      expect(groupsFor(args)).toBe(COMMAND_GROUPS);
    expect(commandWordOf(["--host", "unix:///s", "--json", "version"])).toBe("version");
  });
});

// The CLI's commands as lazily loaded groups: each group names the top-level commands (and aliases)
// it registers and imports its module only when asked. A fresh `sbx ls -q` then parses and runs the
// sandbox commands and the SDK client, not the image builder, tar, the terminal client or the other
// twenty command modules (the bundle puts each group in its own chunk). `sbx`, `sbx --help`, an
// unknown word and `sbx completion` load every group, in this order, so help lists every command.
// command-groups.test.ts checks the names below against what the modules really register.
import type { Command } from "commander";

type Register = (program: Command) => void;

export interface CommandGroup {
  /** The top-level command names and aliases the group registers. */
  names: readonly string[];
  load: () => Promise<Register>;
}

export const COMMAND_GROUPS: readonly CommandGroup[] = [
  {
    names: ["new", "create", "ls", "list", "info", "inspect", "update", "rm", "terminate"],
    load: async () => (await import("./commands/sandboxes.js")).registerSandboxCommands,
  },
  { names: ["exec", "run"], load: async () => (await import("./commands/exec.js")).registerExecCommands },
  {
    names: ["ps", "logs", "kill"],
    load: async () => (await import("./commands/processes.js")).registerProcessCommands,
  },
  { names: ["prune"], load: async () => (await import("./commands/labels.js")).registerPruneCommand },
  { names: ["shell", "terminals"], load: async () => (await import("./commands/shell.js")).registerShellCommands },
  { names: ["cp"], load: async () => (await import("./commands/cp.js")).registerCpCommand },
  {
    // `image register` and `image export|import|push|pull` live with snapshots and OCI transfer.
    names: ["image"],
    load: async () => {
      const [image, snapshot, oci] = await Promise.all([
        import("./commands/image.js"),
        import("./commands/snapshot.js"),
        import("./commands/image-oci.js"),
      ]);
      return (program) => {
        image.registerImageCommands(program);
        const cmd = program.commands.find((c) => c.name() === "image")!;
        snapshot.registerImageRegisterCommand(cmd);
        oci.registerImageOciCommands(cmd);
      };
    },
  },
  {
    names: ["snapshot", "suspend", "resume", "copy"],
    load: async () => (await import("./commands/snapshot.js")).registerSnapshotCommands,
  },
  { names: ["port", "tunnel"], load: async () => (await import("./commands/ports.js")).registerPortCommands },
  { names: ["pool"], load: async () => (await import("./commands/pool.js")).registerPoolCommands },
  { names: ["node"], load: async () => (await import("./commands/nodes.js")).registerNodeCommands },
  { names: ["project", "token"], load: async () => (await import("./commands/projects.js")).registerProjectCommands },
  { names: ["context"], load: async () => (await import("./commands/contexts.js")).registerContextCommands },
  { names: ["events"], load: async () => (await import("./commands/events.js")).registerEventsCommand },
  { names: ["stats"], load: async () => (await import("./commands/stats.js")).registerStatsCommand },
  { names: ["top"], load: async () => (await import("./commands/top.js")).registerTopCommand },
  { names: ["volume"], load: async () => (await import("./commands/volumes.js")).registerVolumeCommands },
  { names: ["daemon"], load: async () => (await import("./commands/daemon.js")).registerDaemonCommands },
  { names: ["doctor"], load: async () => (await import("./commands/doctor.js")).registerDoctorCommand },
  { names: ["version"], load: async () => (await import("./commands/version.js")).registerVersionCommand },
  // Completion walks the whole tree, so naming it loads everything (see groupsFor).
  {
    names: ["completion"],
    load: async () => (await import("./commands/completion.js")).registerCompletionCommand,
  },
];

/** Global options that take a value: their value is not the command word. */
const VALUE_OPTIONS = new Set(["--host", "--project", "--context", "--ca"]);

/** The first word of `args` that is not an option (nor a global option's value). */
export function commandWordOf(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (VALUE_OPTIONS.has(a)) i++;
    else if (!a.startsWith("-")) return a;
  }
  return undefined;
}

/** The groups a run with `args` needs: the one its command word names, else all (help, typos, completion). */
export function groupsFor(args: readonly string[] | undefined): readonly CommandGroup[] {
  const word = args && commandWordOf(args);
  if (!word || word === "completion") return COMMAND_GROUPS;
  const group = COMMAND_GROUPS.find((g) => g.names.includes(word));
  return group ? [group] : COMMAND_GROUPS;
}

/** Registers the groups `args` needs on `program`, in the order of COMMAND_GROUPS. */
export async function registerGroups(program: Command, args?: readonly string[]): Promise<void> {
  const registers = await Promise.all(groupsFor(args).map((g) => g.load()));
  for (const register of registers) register(program);
}

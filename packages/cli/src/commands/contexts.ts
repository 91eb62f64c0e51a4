// `sbx context add|ls|use|rm`: named daemon connections (host, token, project, CA) kept in the
// user's config file, so a remote daemon and a project are chosen once instead of on every call.
import { type Command, InvalidArgumentError } from "commander";
import { assertValidName, SbxError } from "@sbx-sh/protocol";
import { parseHost } from "@sbx-sh/sdk/core";
import { globalsOf } from "../context.js";
import { configPath, loadConfig, updateConfig } from "../config-file.js";
import { formatTable, printJson, printLines, progress } from "../output.js";

function contextName(value: string): string {
  try {
    return assertValidName("context", value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

interface AddFlags {
  host?: string;
  token?: string;
  project?: string;
  ca?: string;
  use?: boolean;
}

export function registerContextCommands(program: Command): void {
  const context = program
    .command("context")
    .description("named daemon connections (host, token, project) kept in ~/.config/sbx/config.json");
  context.addHelpText(
    "after",
    `
The config file is private (mode 0600): sbx refuses one that others can read. --host, SBX_HOST
and friends still win over the current context for one call.

Examples:
  $ sbx context add prod --host https://sbx.example.com:7443 --token sbxt_... --ca ca.pem --use
  $ sbx context add local-ml --project ml      # the local daemon, project ml
  $ sbx context ls
  $ sbx context use local-ml
  $ sbx context rm prod`,
  );

  context
    .command("add")
    .description("add or replace a context")
    .argument("<name>", "the context's name", contextName)
    // Own names, not the global --host/--project/--ca, which mean "for this call".
    .option(
      "--host <url>",
      "sbxd address: unix:///path or http(s)://host:port (default: the local socket)",
      (v: string) => {
        try {
          return parseHost(v).host;
        } catch (err) {
          throw new InvalidArgumentError((err as Error).message);
        }
      },
    )
    .option("--token <token>", "bearer token for a TCP host (from `sbx token create` on the daemon host)")
    .option("--project <name>", "project to work in")
    .option("--ca <file>", "PEM CA certificate that signs the host's TLS certificate")
    .option("--use", "make it the current context")
    .option("-q, --quiet", "print nothing")
    .addHelpText(
      "after",
      `
Examples:
  $ sbx context add prod --host https://sbx.example.com:7443 --token sbxt_... --ca /etc/ssl/sbx-ca.pem
  $ sbx context add here --host unix:///run/sbx/sbxd.sock --project ml --use`,
    )
    .action((name: string, o: AddFlags & { quiet?: boolean }, cmd: Command) => {
      const g = globalsOf(cmd);
      if (o.project !== undefined) assertValidName("project", o.project);
      const entry = { host: o.host, token: o.token, project: o.project, ca: o.ca };
      const config = updateConfig((c) => {
        c.contexts[name] = Object.fromEntries(Object.entries(entry).filter(([, v]) => v !== undefined));
        if (o.use) c.current = name;
      });
      if (g.json) printJson(summary(name, config.contexts[name]!, config.current));
      else if (!o.quiet) printLines([name]);
    });

  context
    .command("ls")
    .alias("list")
    .description("list contexts; * marks the current one")
    .option("-q, --quiet", "print only names")
    .addHelpText(
      "after",
      `\nExamples:\n  $ sbx context ls\n  $ sbx context ls --json | jq -r '.[] | select(.current) | .name'`,
    )
    .action((o: { quiet?: boolean }, cmd: Command) => {
      const g = globalsOf(cmd);
      const config = loadConfig();
      const list = Object.entries(config.contexts).map(([n, e]) => summary(n, e, config.current));
      if (g.json) return printJson(list);
      if (o.quiet) return printLines(list.map((c) => c.name));
      const rows = list.map((c) => [
        c.current ? "*" : "",
        c.name,
        c.host,
        c.project ?? "-",
        c.token ? "yes" : "no",
        c.ca ?? "-",
      ]);
      printLines([formatTable(["", "NAME", "HOST", "PROJECT", "TOKEN", "CA"], rows)]);
      if (!list.length) progress(`no contexts yet (${configPath()}): add one with \`sbx context add\``);
    });

  context
    .command("use")
    .description("make a context the current one (`none`: use no context)")
    .argument("<name>", "context name, or none")
    .option("-q, --quiet", "print nothing")
    .addHelpText("after", `\nExamples:\n  $ sbx context use prod\n  $ sbx context use none`)
    .action((name: string, o: { quiet?: boolean }, cmd: Command) => {
      const g = globalsOf(cmd);
      const config = updateConfig((c) => {
        if (name === "none") delete c.current;
        else if (!c.contexts[name]) throw missing(name);
        else c.current = name;
      });
      if (g.json) printJson({ current: config.current ?? null });
      else if (!o.quiet) printLines([config.current ?? "none"]);
    });

  context
    .command("rm")
    .alias("remove")
    .description("remove contexts")
    .argument("<name...>", "context names")
    .option("-q, --quiet", "print nothing")
    .addHelpText("after", `\nExamples:\n  $ sbx context rm prod`)
    .action((names: string[], o: { quiet?: boolean }, cmd: Command) => {
      const g = globalsOf(cmd);
      updateConfig((c) => {
        // All or nothing: a typo in one name removes none.
        for (const n of names) if (!c.contexts[n]) throw missing(n);
        for (const n of names) {
          delete c.contexts[n];
          if (c.current === n) delete c.current;
        }
      });
      if (g.json) printJson(names);
      else if (!o.quiet) printLines(names);
    });
}

function missing(name: string): SbxError {
  return new SbxError("not_found", `context ${JSON.stringify(name)} does not exist: list them with \`sbx context ls\``);
}

/** A context as listed: whether it has a token, never the token itself. */
function summary(name: string, e: { host?: string; token?: string; project?: string; ca?: string }, current?: string) {
  return {
    name,
    current: name === current,
    host: e.host ?? "unix:///run/sbx/sbxd.sock",
    project: e.project ?? null,
    token: e.token !== undefined,
    ca: e.ca ?? null,
  };
}

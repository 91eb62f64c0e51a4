// `sbx project create|ls|rm|use` and `sbx token create|ls|revoke`: projects (the scope of every
// object) and the bearer tokens that open a project to TCP clients. Creating projects and tokens
// and deleting projects go over the daemon's unix socket (as root); `use` writes the current
// context of the config file, so the project is chosen once.
import type { Command } from "commander";
import { assertValidName, SbxError } from "@sbx-sh/protocol";
import type { SandboxClient } from "@sbx-sh/sdk";
import { globalsOf, withClient } from "../context.js";
import { updateConfig } from "../config-file.js";
import { ago, formatTable, printJson, printLines, progress } from "../output.js";
import { registerQuotaCommand } from "./quota.js";

export function registerProjectCommands(program: Command): void {
  const project = program.command("project").description("projects: the scope of sandboxes, images and tokens");
  project.addHelpText(
    "after",
    `
Examples:
  $ sudo sbx project create ml
  $ sbx project use ml                        # later commands work in ml
  $ sbx project ls
  $ sudo sbx project rm ml                    # only when empty, and not the current one`,
  );

  registerQuotaCommand(project);
  project
    .command("create")
    .description("create a project (over the unix socket, as root)")
    .argument("<name>", "project name: letters, digits, '-', '_', '.'")
    .option("-q, --quiet", "print only the name")
    .option("--use", "also make it the current project")
    .addHelpText("after", `\nExamples:\n  $ sudo sbx project create ml --use`)
    .action(async (name: string, o: { quiet?: boolean; use?: boolean }, cmd: Command) => {
      const g = globalsOf(cmd);
      await withClient(cmd, async (client) => {
        const p = await client.createProject(name);
        if (o.use) useProject(p.name);
        if (g.json) printJson(p);
        else printLines([p.name]);
      });
    });

  project
    .command("ls")
    .alias("list")
    .description("list projects; * marks the current one")
    .option("-q, --quiet", "print only names")
    .addHelpText("after", `\nExamples:\n  $ sbx project ls\n  $ sbx project ls -q`)
    .action(async (o: { quiet?: boolean }, cmd: Command) => {
      const g = globalsOf(cmd);
      await withClient(cmd, async (client) => {
        const current = client.config.project;
        const list = (await client.listProjects()).map((p) => ({ ...p, current: p.name === current }));
        if (g.json) return printJson(list);
        if (o.quiet) return printLines(list.map((p) => p.name));
        printLines([
          formatTable(
            ["", "NAME", "CREATED"],
            list.map((p) => [p.current ? "*" : "", p.name, ago(p.createdAt)]),
          ),
        ]);
      });
    });

  project
    .command("rm")
    .alias("remove")
    .description("delete empty projects and their tokens (not default, not the current one)")
    .argument("<name...>", "project names")
    .option("-q, --quiet", "print only names")
    .addHelpText("after", `\nExamples:\n  $ sudo sbx project rm ml`)
    .action(async (names: string[], _o: unknown, cmd: Command) => {
      const g = globalsOf(cmd);
      await withClient(cmd, async (client) => {
        const done = [];
        for (const n of names) done.push(await client.deleteProject(n));
        if (g.json) printJson(done);
        else printLines(done.map((p) => p.name));
      });
    });

  project
    .command("use")
    .description("make a project the current one (in the current context of the config file)")
    .argument("<name>", "project name")
    .option("-q, --quiet", "print nothing")
    .addHelpText("after", `\nExamples:\n  $ sbx project use ml\n  $ sbx project use default`)
    .action(async (name: string, o: { quiet?: boolean }, cmd: Command) => {
      const g = globalsOf(cmd);
      assertValidName("project", name);
      await withClient(cmd, async (client) => {
        // Only a project that exists: a typo would otherwise break every later command.
        if (!(await client.listProjects()).some((p) => p.name === name))
          throw new SbxError(
            "project_not_found",
            `project ${JSON.stringify(name)} does not exist: create it with \`sbx project create ${name}\``,
          );
      });
      const context = useProject(name);
      if (g.json) printJson({ project: name, context });
      else if (!o.quiet) progress(`now working in project ${name} (context ${context})`);
    });

  registerTokenCommands(program);
}

/** Puts `name` into the current context, making a context `default` (the local daemon) if there is none. */
function useProject(name: string): string {
  let context = "";
  updateConfig((c) => {
    context = c.current ?? "default";
    c.contexts[context] = { ...c.contexts[context], project: name };
    c.current = context;
  });
  return context;
}

/**
 * The project a token command works on. Over the unix socket: --project, the context's, or
 * SBX_PROJECT. Over TCP the token decides, and the daemon lists only that project.
 */
async function projectOf(client: SandboxClient): Promise<string> {
  if (client.config.socketPath) return client.config.project;
  const [own] = await client.listProjects();
  return own?.name ?? client.config.project;
}

function registerTokenCommands(program: Command): void {
  const token = program.command("token").description("bearer tokens that let TCP clients into a project");
  token.addHelpText(
    "after",
    `
Tokens are made over the daemon's unix socket (as root); the secret is shown once. Over TCP a
token can list and revoke its own project's tokens, except itself.

Examples:
  $ sudo sbx token create --project ml        # prints the secret: keep it
  $ sbx context add prod --host https://sbx.example.com:7443 --token sbxt_...
  $ sbx token ls --project ml
  $ sudo sbx token revoke tok-3f9k2a7b1c4d --project ml`,
  );

  token
    .command("create")
    .description("create a token for the project and print its secret (shown once)")
    .option("-q, --quiet", "print only the secret")
    .addHelpText("after", `\nExamples:\n  $ TOKEN=$(sudo sbx token create --project ml -q)`)
    .action(async (o: { quiet?: boolean }, cmd: Command) => {
      const g = globalsOf(cmd);
      await withClient(cmd, async (client) => {
        const t = await client.createToken(await projectOf(client));
        if (g.json) return printJson(t);
        printLines([t.token ?? ""]);
        if (!o.quiet) progress(`token ${t.id} for project ${t.project}: the secret above is shown only once`);
      });
    });

  token
    .command("ls")
    .alias("list")
    .description("list the project's tokens (ids and dates; secrets are never shown again)")
    .option("-q, --quiet", "print only ids")
    .addHelpText("after", `\nExamples:\n  $ sbx token ls --project ml`)
    .action(async (o: { quiet?: boolean }, cmd: Command) => {
      const g = globalsOf(cmd);
      await withClient(cmd, async (client) => {
        const list = await client.listTokens(await projectOf(client));
        if (g.json) return printJson(list);
        if (o.quiet) return printLines(list.map((t) => t.id));
        printLines([
          formatTable(
            ["ID", "PROJECT", "CREATED"],
            list.map((t) => [t.id, t.project, ago(t.createdAt)]),
          ),
        ]);
      });
    });

  token
    .command("revoke")
    .alias("rm")
    .description("revoke tokens of the project (not the one this call uses)")
    .argument("<id...>", "token ids (from sbx token ls)")
    .option("-q, --quiet", "print only ids")
    .addHelpText("after", `\nExamples:\n  $ sbx token revoke tok-3f9k2a7b1c4d --project ml`)
    .action(async (ids: string[], _o: unknown, cmd: Command) => {
      const g = globalsOf(cmd);
      await withClient(cmd, async (client) => {
        const project = await projectOf(client);
        const done = [];
        for (const id of ids) done.push(await client.revokeToken(project, id));
        if (g.json) printJson(done);
        else printLines(done.map((t) => t.id));
      });
    });
}

// Per-invocation plumbing of the CLI: the global options every command takes, the client they
// make (starting a local sbxd on first use), and the parser of KEY=VALUE options (numbers:
// option-numbers.ts).
import { Command, InvalidArgumentError, Option } from "commander";
import { SbxError } from "@sbx-sh/protocol";
import { SandboxClient, type ClientOptions } from "@sbx-sh/sdk/core";
import { progress } from "./output.js";

export interface GlobalOptions {
  host?: string;
  project?: string;
  context?: string;
  ca?: string;
  json?: boolean;
  debug?: boolean;
}

/** Adds the global options to a command, so they work before and after the command name. */
export function withGlobals(cmd: Command): Command {
  // A command may define one of these names itself (`context add --host`): its own wins.
  const g = (o: Option) => {
    if (!cmd.options.some((x) => x.long === o.long)) cmd.addOption(o.helpGroup("Global Options:"));
  };
  g(new Option("--host <url>", "sbxd address: unix:///path or http://host:port (env SBX_HOST)"));
  g(new Option("--project <name>", "project to work in (env SBX_PROJECT; default: the context's, else default)"));
  g(new Option("--context <name>", "use this context of the config file (env SBX_CONTEXT; see sbx context)"));
  g(new Option("--ca <file>", "PEM CA certificate to verify an https:// host with (env SBX_CA_CERT)"));
  g(new Option("--json", "print JSON on stdout"));
  g(new Option("--debug", "print stacks and error details"));
  return cmd;
}

/** The options of `cmd` and its ancestors; the one nearest the command wins (unlike optsWithGlobals). */
export function globalsOf(cmd: Command): GlobalOptions {
  const chain: Command[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) chain.unshift(c);
  const merged: Record<string, unknown> = {};
  for (const c of chain) {
    for (const [k, v] of Object.entries(c.opts())) if (v !== undefined) merged[k] = v;
  }
  return merged as GlobalOptions;
}

/** What the global options say about where the daemon is (the SDK adds env and the config file). */
export function clientOptions(cmd: Command): ClientOptions {
  const g = globalsOf(cmd);
  return { host: g.host, project: g.project, context: g.context, ca: g.ca };
}

/** Builds a client for the command; `autoStart` starts sbxd when the default socket has nobody behind it. */
export async function clientFor(cmd: Command, options: { autoStart?: boolean } = {}): Promise<SandboxClient> {
  const client = new SandboxClient(clientOptions(cmd));
  if (options.autoStart === false || !client.config.isDefaultHost) return client;
  try {
    await client.info();
  } catch (err) {
    if (!(err instanceof SbxError) || err.code !== "daemon_unavailable") throw err;
    progress("starting sbxd...");
    // Loaded only here: spawning (child_process) is not part of an ordinary command's start-up.
    const { startDaemon } = await import("./daemon-control.js");
    const started = await startDaemon(client);
    if (started.logPath) progress(`sbxd is running (pid ${started.pid}, log ${started.logPath})`);
  }
  return client;
}

/** Runs `fn` with a client and releases its connections afterwards, so the CLI exits promptly. */
export async function withClient<T>(
  cmd: Command,
  fn: (client: SandboxClient) => Promise<T>,
  options: { autoStart?: boolean } = {},
): Promise<T> {
  const client = await clientFor(cmd, options);
  try {
    return await fn(client);
  } finally {
    await client.close().catch(() => undefined);
  }
}

export function parseEnvPair(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const eq = value.indexOf("=");
  if (eq <= 0) throw new InvalidArgumentError(`expected KEY=VALUE, got ${JSON.stringify(value)}`);
  return { ...previous, [value.slice(0, eq)]: value.slice(eq + 1) };
}

// Processes from the CLI: `sbx exec -d` starts one in the background, `sbx ps` lists them,
// `sbx logs` prints (or follows) their output, `sbx kill` signals one. Output from a sandbox is
// written as the bytes it is; only the table columns sbx prints itself are escaped.
import { once } from "node:events";
import type { Command } from "commander";
import type { ProcessInfo } from "@sbx-sh/protocol";
import { SbxError } from "@sbx-sh/protocol";
import { Sandbox, type SandboxProcess } from "@sbx-sh/sdk/core";
import { signalNumber } from "@sbx-sh/sdk/internal";
import { clientFor, globalsOf, withClient } from "../context.js";
import { ago, formatTable, printJson, printLines, stdoutGone } from "../output.js";

/** A sandbox's command line shown in one table cell: control characters escaped, long ones cut. */
function commandCell(p: ProcessInfo): string {
  const line = [p.command, ...p.args].map((a) => (/[\s"']/.test(a) ? JSON.stringify(a) : a)).join(" ");
  const safe = line.replace(
    // eslint-disable-next-line no-control-regex
    /[\u0000-\u001f\u007f-\u009f]/g,
    (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`,
  );
  return safe.length > 80 ? `${safe.slice(0, 79)}…` : safe;
}

function statusCell(p: ProcessInfo): string {
  if (p.status === "running") return "running";
  if (p.signal) return `killed (${p.signal})${p.timedOut ? ", timed out" : ""}`;
  return `exited (${p.exitCode ?? "?"})`;
}

/** `sbx exec -d`: starts the command in the background and prints its process id. */
export async function startDetached(
  cmd: Command,
  id: string,
  command: string,
  args: string[],
  o: { env?: Record<string, string>; workdir?: string; user?: string; timeout?: number },
): Promise<void> {
  const g = globalsOf(cmd);
  const client = await clientFor(cmd);
  try {
    const sb = await Sandbox.connect(id, client);
    const p = await sb.startProcess(command, {
      args,
      env: o.env,
      workingDir: o.workdir,
      user: o.user,
      timeout: o.timeout,
    });
    if (g.json) printJson(p.lastInfo);
    else printLines([p.id]);
  } finally {
    await client.close().catch(() => undefined);
  }
}

async function write(stream: NodeJS.WriteStream, data: Buffer): Promise<void> {
  if (stream === process.stdout && stdoutGone.signal.aborted) return;
  if (!stream.write(data)) await once(stream, "drain", { signal: stdoutGone.signal }).catch(() => undefined);
}

export function registerProcessCommands(program: Command): void {
  program
    .command("ps")
    .description("list a sandbox's processes (running and exited)")
    .argument("<id>", "sandbox id or name")
    .option("-q, --quiet", "print only process ids")
    .addHelpText(
      "after",
      `
Examples:
  $ sbx ps sb-3f9k2
  $ sbx ps sb-3f9k2 --json | jq -r '.[] | select(.status == "running") | .id'`,
    )
    .action(async (id: string, o: { quiet?: boolean }, cmd: Command) => {
      const g = globalsOf(cmd);
      await withClient(cmd, async (client) => {
        const list = await (await Sandbox.connect(id, client)).listProcesses();
        if (g.json) return printJson(list);
        if (o.quiet) return printLines(list.map((p) => p.id));
        printLines([
          formatTable(
            ["PID", "STATUS", "STARTED", "COMMAND"],
            list.map((p) => [p.id, statusCell(p), ago(p.startedAt), commandCell(p)]),
          ),
        ]);
      });
    });

  program
    .command("logs")
    .description("print a process's output so far (-f: and follow it until it exits)")
    .argument("<id>", "sandbox id or name")
    .argument("[pid]", "process id (default: the most recently started process)")
    .option("-f, --follow", "keep printing new output until the process exits")
    .addHelpText(
      "after",
      `
stdout goes to stdout and stderr to stderr, as the process wrote them.

Examples:
  $ pid=$(sbx exec -d sb-3f9k2 -- sh -c 'for i in 1 2 3; do echo $i; sleep 1; done')
  $ sbx logs sb-3f9k2 $pid -f
  $ sbx logs sb-3f9k2                         # the latest process`,
    )
    .action(async (id: string, pid: string | undefined, o: { follow?: boolean }, cmd: Command) => {
      const abort = new AbortController();
      const stop = (): void => abort.abort();
      process.once("SIGINT", stop);
      stdoutGone.signal.addEventListener("abort", stop, { once: true });
      try {
        await withClient(cmd, async (client) => {
          const sb = await Sandbox.connect(id, client);
          let proc: SandboxProcess;
          if (pid) proc = await sb.getProcess(pid);
          else {
            const latest = (await sb.listProcesses()).at(-1);
            if (!latest)
              throw new SbxError(
                "process_not_found",
                `sandbox ${sb.id} has no processes yet: start one with \`sbx exec -d ${id} -- <command>\``,
              );
            proc = await sb.getProcess(latest.id);
          }
          for await (const ev of proc.output({ follow: o.follow, signal: abort.signal })) {
            if (ev.type === "stdout") await write(process.stdout, ev.data);
            else if (ev.type === "stderr") await write(process.stderr, ev.data);
            else break;
          }
        });
      } catch (err) {
        if (!abort.signal.aborted) throw err;
      } finally {
        process.off("SIGINT", stop);
      }
    });

  program
    .command("kill")
    .description("send a signal to a process in a sandbox (default SIGTERM)")
    .argument("<id>", "sandbox id or name")
    .argument("<pid>", "process id (from sbx exec -d or sbx ps)")
    .option("-s, --signal <signal>", "signal name or number: TERM, KILL, INT, HUP, 9, ...", "SIGTERM")
    .option("-q, --quiet", "print only the process id")
    .addHelpText(
      "after",
      `
Examples:
  $ sbx kill sb-3f9k2 pr-8d2k1m0q7x3a
  $ sbx kill sb-3f9k2 pr-8d2k1m0q7x3a -s KILL`,
    )
    .action(async (id: string, pid: string, o: { signal: string; quiet?: boolean }, cmd: Command) => {
      const g = globalsOf(cmd);
      const sig = /^\d+$/.test(o.signal) ? Number(o.signal) : o.signal;
      if (typeof sig === "string" && signalNumber(sig) === undefined)
        throw new SbxError(
          "invalid_argument",
          `--signal: unknown signal ${JSON.stringify(o.signal)} (try TERM, KILL, INT, HUP)`,
        );
      await withClient(cmd, async (client) => {
        const proc = await (await Sandbox.connect(id, client)).getProcess(pid);
        const info = await proc.signal(sig);
        if (g.json) printJson(info);
        else printLines([info.id]);
      });
    });
}

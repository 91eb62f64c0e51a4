// Port commands: `sbx port expose|ls|close` (the daemon's HTTP proxy for a sandbox port) and
// `sbx tunnel` (a local TCP listener whose connections go to a sandbox port through the API).
import { createServer, type Socket } from "node:net";
import { type Command, InvalidArgumentError } from "commander";
import { checkPort, type PortExposure } from "@sbx-sh/protocol";
import { openPortStream } from "@sbx-sh/sdk/internal";
import { globalsOf, withClient } from "../context.js";
import { ago, formatTable, printJson, printLines, progress } from "../output.js";

/** Digits only; the daemon checks the range, so every client gets the same error for 0 or 70000. */
export function parsePort(value: string): number {
  if (!/^\d{1,6}$/.test(value)) throw new InvalidArgumentError(`expected a port number, got ${JSON.stringify(value)}`);
  return Number(value);
}

function accessLine(p: PortExposure): string {
  return p.public ? `${p.url}  (public)` : `${p.url}?sbx_token=${p.token}  (or header X-Sbx-Token: ${p.token})`;
}

export function registerPortCommands(program: Command): void {
  const port = program.command("port").description("expose sandbox ports on the daemon's HTTP proxy");
  port
    .command("expose")
    .description("make a sandbox port reachable at http://<port>-<id>.localhost:<proxy port>/")
    .argument("<id>", "sandbox id or name")
    .argument("<port>", "port a server listens on inside the sandbox (on 0.0.0.0)", parsePort)
    .option("--public", "no token needed (anyone who can reach the proxy)")
    .addHelpText(
      "after",
      `
The daemon's proxy (sbxd --proxy-listen, default 127.0.0.1:7071) routes by host name. A private
port needs its token: the X-Sbx-Token header, or ?sbx_token=<token> once (a cookie keeps it).
HTTP and WebSocket pass through. Exposures last until closed or the sandbox is terminated.

Examples:
  $ sbx exec $id -- sh -c 'mkdir -p /srv && /.sbx/busybox httpd -p 8080 -h /srv'
  $ sbx port expose $id 8080
  $ curl -H "X-Sbx-Token: $(sbx port ls $id --json | jq -r '.[0].token')" http://8080-$id.localhost:7071/
  $ sbx port expose $id 8080 --public`,
    )
    .action(async (id: string, p: number, o: { public?: boolean }, cmd: Command) => {
      const g = globalsOf(cmd);
      await withClient(cmd, async (client) => {
        const e = await client.exposePort(id, p, { public: o.public ?? false });
        if (g.json) printJson(e);
        else printLines([accessLine(e)]);
      });
    });

  port
    .command("ls")
    .alias("list")
    .description("list a sandbox's exposed ports")
    .argument("<id>", "sandbox id or name")
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const g = globalsOf(cmd);
      await withClient(cmd, async (client) => {
        const list = await client.listPorts(id);
        if (g.json) return printJson(list);
        const rows = list.map((e) => [
          String(e.port),
          e.public ? "public" : "token",
          e.url,
          e.public ? "-" : e.token,
          ago(e.createdAt),
        ]);
        printLines([formatTable(["PORT", "ACCESS", "URL", "TOKEN", "EXPOSED"], rows)]);
      });
    });

  port
    .command("close")
    .alias("rm")
    .description("stop exposing a sandbox port")
    .argument("<id>", "sandbox id or name")
    .argument("<port>", "exposed port", parsePort)
    .action(async (id: string, p: number, _o: unknown, cmd: Command) => {
      const g = globalsOf(cmd);
      await withClient(cmd, async (client) => {
        const e = await client.closePort(id, p);
        if (g.json) printJson(e);
        else printLines([String(e.port)]);
      });
    });

  program
    .command("tunnel")
    .description("forward a local TCP port to a sandbox port, through the daemon API")
    .argument("<id>", "sandbox id or name")
    .argument("<port>", "port inside the sandbox", parsePort)
    .option("-l, --local <port>", "local port to listen on (default: the same; 0 picks a free one)", parsePort)
    .option("--bind <address>", "local address to listen on", "127.0.0.1")
    .addHelpText(
      "after",
      `
Each connection to the local port becomes a WebSocket to sbxd (GET /v1/sandboxes/{id}/ports/{port}/connect)
carrying its bytes, so it works with a remote daemon (--host http://..., SBX_TOKEN) too. Runs until Ctrl-C.

Examples:
  $ sbx tunnel $id 5432 -l 15432 &
  $ psql -h 127.0.0.1 -p 15432 -U postgres`,
    )
    .action(async (id: string, p: number, o: { local?: number; bind: string }, cmd: Command) => {
      const g = globalsOf(cmd);
      // Checked here, not left to the daemon: it sees the sandbox port only when a connection comes
      // (a tunnel to port 0 or 70000 listened and then failed every connection), and a local port
      // past 65535 was Node's own uncoded RangeError.
      checkPort(p);
      if (o.local !== undefined && o.local !== 0) checkPort(o.local);
      await withClient(cmd, async (client) => {
        const sb = await client.get(id);
        const server = createServer((local: Socket) => {
          local.on("error", () => undefined);
          openPortStream(client.transport, sb.id, p).then(
            (remote) => {
              remote.on("error", () => local.destroy());
              local.on("error", () => remote.destroy());
              local.pipe(remote).pipe(local);
            },
            (err: Error) => {
              progress(`connection refused: ${err.message}`);
              local.destroy();
            },
          );
        });
        await new Promise<void>((resolve, reject) => {
          server.once("error", reject);
          server.listen(o.local ?? p, o.bind, () => resolve());
        });
        const bound = server.address() as { address: string; port: number };
        if (g.json) printJson({ sandboxId: sb.id, port: p, localAddress: bound.address, localPort: bound.port });
        else progress(`forwarding ${bound.address}:${bound.port} -> ${sb.id}:${p} (Ctrl-C to stop)`);
        await new Promise<void>((resolve) => {
          for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => resolve());
        });
        server.close();
      });
    });
}

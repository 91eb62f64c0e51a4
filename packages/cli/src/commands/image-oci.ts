// `sbx image export|import|push|pull`: OCI image layouts (a tar or a folder) in and out of the
// project, and registries over the OCI distribution API. The daemon does the work; the CLI only
// moves the layout tar between the daemon and the local file or folder.
import { spawn } from "node:child_process";
import { createReadStream } from "node:fs";
import { mkdir, readdir, stat } from "node:fs/promises";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Command } from "commander";
import { SbxError } from "@sbx-sh/protocol";
import type { RegistryCredentials } from "@sbx-sh/sdk";
import { registryCredentials } from "../config.js";
import { globalsOf, withClient } from "../context.js";
import { printJson, printLines } from "../output.js";
import { imageRef } from "./image.js";
import { onStopSignals } from "./exec.js";
import { TransferProgress, transferMode } from "../transfer-progress.js";

interface AuthFlags {
  username?: string;
  password?: string;
  insecure?: boolean;
}

function credentials(o: AuthFlags): RegistryCredentials {
  const env = registryCredentials();
  return {
    username: o.username ?? env.username,
    password: o.password ?? env.password,
    token: env.token,
    insecure: o.insecure,
  };
}

function authOptions(cmd: Command): Command {
  return cmd
    .option("--insecure", "plain HTTP to a registry that is not on loopback (localhost and 127.0.0.1 always use HTTP)")
    .option("-u, --username <user>", "registry user (or SBX_REGISTRY_USER)")
    .option(
      "-p, --password <password>",
      "registry password (or SBX_REGISTRY_PASSWORD; SBX_REGISTRY_TOKEN for a bearer token)",
    );
}

function splitRef(ref: string): { name: string; tag?: string } {
  const i = ref.lastIndexOf(":");
  return i > 0 ? { name: ref.slice(0, i), tag: ref.slice(i + 1) } : { name: ref };
}

/** Runs tar with the given stream as input or output; rejects with its stderr. */
function runTar(args: string[], io: { input?: Readable }): { stdout: Readable; done: Promise<void> } {
  const child = spawn("tar", args, { stdio: [io.input ? "pipe" : "ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (b: Buffer) => (stderr += b.toString()));
  if (io.input) void pipeline(io.input, child.stdin!).catch(() => child.kill());
  const done = new Promise<void>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0 ? resolve() : reject(new SbxError("invalid_argument", `tar failed: ${stderr.trim()}`)),
    );
  });
  return { stdout: child.stdout!, done };
}

/**
 * Runs `work` with a signal that Ctrl-C (SIGTERM, SIGHUP) aborts. Killed outright, the CLI left the
 * export's temp file (`.<name>.<hex>.part`) behind; aborted, the SDK removes it, and then the CLI
 * dies of the signal as it would have. A second Ctrl-C does not wait for that.
 */
async function abortOnStop<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const abort = new AbortController();
  let stoppedBy: NodeJS.Signals | undefined;
  const off = onStopSignals((sig) => {
    if (sig === "SIGPIPE") return;
    if (stoppedBy) {
      off();
      process.kill(process.pid, sig);
    }
    stoppedBy = sig;
    abort.abort();
  });
  try {
    return await work(abort.signal);
  } finally {
    off();
    if (stoppedBy) process.kill(process.pid, stoppedBy);
  }
}

export function registerImageOciCommands(image: Command): void {
  image
    .command("export")
    .description("write an image as an OCI image layout: a tar (skopeo's oci-archive:) or a folder (oci:)")
    .argument("<image>", "name, name:tag or a base image")
    .requiredOption("-o, --output <path>", "a .tar file, '-' for stdout, or a folder (created; must be empty)")
    .addHelpText(
      "after",
      "\nExamples:\n  $ sbx image export web -o web.oci.tar\n  $ sbx image export web:2 -o ./web-layout && skopeo inspect oci:./web-layout",
    )
    .action(async (ref: string, o: { output: string }, cmd: Command) => {
      const bytes = new TransferProgress("export", `${ref} -> ${o.output}`, { mode: transferMode(globalsOf(cmd)) });
      await withClient(cmd, async (client) => {
        const asTar =
          o.output === "-" || /\.tar$/i.test(o.output) || (await stat(o.output).catch(() => undefined))?.isFile();
        if (!asTar) {
          await mkdir(o.output, { recursive: true });
          if ((await readdir(o.output)).length)
            throw new SbxError("invalid_argument", `${o.output} is not empty: export into a new folder or a .tar file`);
        }
        // A file gets the patched form (a new layer streams as it is compressed, its header written
        // after it); stdout and a folder (through tar -x) need the bytes in order.
        if (asTar && o.output !== "-")
          await abortOnStop((signal) =>
            client.exportImageToFile(ref, o.output, { signal, onBytes: (n) => bytes.add(n) }),
          );
        else {
          const body = bytes.meter(await client.exportImage(ref));
          if (o.output === "-") await pipeline(body, process.stdout);
          else await runTar(["-x", "--no-same-owner", "-C", o.output, "-f", "-"], { input: body }).done;
        }
        bytes.done();
      });
    });

  image
    .command("import")
    .description("register an OCI image layout (tar or folder) or a docker-archive tar as a project image")
    .argument("<path>", "an OCI layout tar or folder, or a `docker save` tar")
    .requiredOption("-n, --name <name[:tag]>", "the name (and tag) to register")
    .option("--replace", "point an existing name at the imported image")
    .addHelpText("after", "\nExamples:\n  $ sbx image import web.oci.tar -n web2\n  $ sbx new --image web2")
    .action(async (path: string, o: { name: string; replace?: boolean }, cmd: Command) => {
      const g = globalsOf(cmd);
      const st = await stat(path).catch(() => undefined);
      if (!st) throw new SbxError("invalid_argument", `${path} does not exist`);
      const tar = st.isDirectory() ? runTar(["-C", path, "-cf", "-", "."], {}) : null;
      const bytes = new TransferProgress("import", `${path} -> ${o.name}`, {
        mode: transferMode(g),
        total: tar ? undefined : st.size,
      });
      await withClient(cmd, async (client) => {
        const { name, tag } = splitRef(o.name);
        const [detail] = await Promise.all([
          client.importImage(bytes.meter(tar ? tar.stdout : createReadStream(path)), {
            name,
            tag,
            replace: o.replace,
          }),
          tar?.done,
        ]);
        bytes.done();
        if (g.json) printJson(detail);
        else printLines([imageRef(detail)]);
      });
    });

  authOptions(
    image
      .command("push")
      .description("push an image to a registry (OCI distribution API); blobs the registry has are skipped")
      .argument("<image>", "name or name:tag")
      .argument("<reference>", "registry/repository:tag, e.g. localhost:5000/team/web:2"),
  )
    .addHelpText("after", "\nExamples:\n  $ sbx image push web localhost:5000/team/web:2")
    .action(async (ref: string, reference: string, o: AuthFlags, cmd: Command) => {
      const g = globalsOf(cmd);
      const bytes = new TransferProgress("push", `${ref} -> ${reference}`, { mode: transferMode(g) });
      await withClient(cmd, async (client) => {
        const r = await client.pushImage(ref, reference, credentials(o), { onProgress: (p) => bytes.update(p) });
        bytes.done();
        if (g.json) printJson(r);
        else printLines([`${reference}@${r.digest} (${r.blobsSent} blobs sent, ${r.blobsSkipped} already there)`]);
      });
    });

  authOptions(
    image
      .command("pull")
      .description("pull an image from a registry into the project")
      .argument("<reference>", "registry/repository[:tag|@digest]")
      .option("-n, --name <name[:tag]>", "register as (default: the repository's last part and the tag)")
      .option("--replace", "point an existing name at the pulled image"),
  )
    .addHelpText("after", "\nExamples:\n  $ sbx image pull localhost:5000/team/web:2 -n web2")
    .action(async (reference: string, o: AuthFlags & { name?: string; replace?: boolean }, cmd: Command) => {
      const g = globalsOf(cmd);
      const bytes = new TransferProgress("pull", reference, { mode: transferMode(g) });
      await withClient(cmd, async (client) => {
        const r = await client.pullImage(reference, {
          ...credentials(o),
          ...(o.name ? splitRef(o.name) : {}),
          replace: o.replace,
          onProgress: (p) => bytes.update(p),
        });
        bytes.done();
        if (g.json) printJson(r);
        else printLines([`${imageRef(r.image)} (${r.layersFetched} layers fetched, ${r.layersReused} reused)`]);
      });
    });
}

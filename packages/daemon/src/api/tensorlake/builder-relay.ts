// The builder sandbox's side of a Tensorlake image build: the SDK starts `tl-rootfs-build --spec …
// --metadata-out …` there, and the daemon answers with a relay process (`cat`) that replays the
// build's log as its output, then writes `metadata.json` and closes the relay's stdin (exit 0, or 1
// without metadata). The spec file is written by the SDK inside a sandbox: hostile input, only a
// build id is taken from it.
import { Readable } from "node:stream";
import { posix } from "node:path";
import { SbxError } from "@sbx-sh/protocol";
import type { ProcessRecord } from "../../domain/records.js";
import type { Services } from "../../services/services.js";
import type { Pending } from "./pending-build.js";

/** A build spec is a few hundred bytes of JSON: more is not one (and is not taken into memory). */
const MAX_SPEC_BYTES = 1024 * 1024;

/** The build a `tl-rootfs-build` start names; undefined when `command` is anything else. */
export async function builderStart(
  s: Services,
  project: string,
  sandbox: string,
  command: string,
  args: string[],
): Promise<{ buildId: string; metadataPath: string } | undefined> {
  if (posix.basename(command) !== "tl-rootfs-build") return undefined;
  const arg = (flag: string) => {
    const i = args.indexOf(flag);
    return i >= 0 ? args[i + 1] : args.find((a) => a.startsWith(`${flag}=`))?.slice(flag.length + 1);
  };
  const specPath = arg("--spec");
  const metadataPath = arg("--metadata-out");
  if (!specPath || !metadataPath)
    throw new SbxError("invalid_argument", "tl-rootfs-build needs --spec and --metadata-out");
  let spec: unknown;
  try {
    spec = JSON.parse((await s.files.readSmall(project, sandbox, specPath, MAX_SPEC_BYTES)).toString("utf8"));
  } catch (err) {
    throw new SbxError("invalid_argument", `cannot read the build spec ${specPath}: ${(err as Error).message}`);
  }
  const buildId = (spec as { buildId?: unknown } | null)?.buildId;
  if (typeof buildId !== "string") throw new SbxError("invalid_argument", `the build spec ${specPath} has no buildId`);
  return { buildId, metadataPath };
}

/** Starts the relay process in the builder sandbox: `cat`, then exit 1 unless metadata.json was written. */
export function startRelay(
  s: Services,
  project: string,
  sandbox: string,
  metadataPath: string,
): Promise<ProcessRecord> {
  return s.processes.start(project, sandbox, {
    command: "/bin/sh",
    args: ["-c", 'cat && test -f "$1"', "tl-rootfs-build", metadataPath],
    user: "root",
    stdin: true,
  });
}

/**
 * Feeds the build's log to the relay, writes metadata.json on success, then ends the relay.
 * `abandon` is called when the relay ends before the build settled.
 */
export async function relayBuild(
  s: Services,
  p: Pending,
  sandbox: string,
  relay: ProcessRecord,
  metadataPath: string,
  abandon: (reason: string) => void,
): Promise<void> {
  const write = (text: string) =>
    text ? s.processes.writeStdin(p.project, sandbox, relay.id, Buffer.from(text)) : Promise.resolve();
  // The relay ending before the build did means its sandbox is gone (the SDK gave up and deleted
  // it, or it timed out): nobody will complete the build, so it is cancelled, not registered.
  let settled = false;
  void p.image.then(
    () => (settled = true),
    () => (settled = true),
  );
  void (async () => {
    for await (const e of s.processes.output(p.project, sandbox, relay.id, true)) if (e.type === "exit") break;
  })()
    .catch(() => undefined)
    .then(() => {
      if (!settled) abandon(`the builder sandbox ${sandbox} ended before the build finished: build cancelled`);
    });
  try {
    for await (const text of p.log.read()) await write(text);
    const image = await p.image;
    const metadata = {
      buildId: p.buildId,
      snapshotId: image.id,
      snapshotUri: `sbx://images/${image.id}`,
      snapshotFormatVersion: "sbx-layers",
      snapshotSizeBytes: image.sizeBytes,
      rootfsDiskBytes: image.sizeBytes,
      rootfsNodeKind: "base",
    };
    await s.files.write(p.project, sandbox, metadataPath, Readable.from([JSON.stringify(metadata)]));
  } finally {
    await s.processes.closeStdin(p.project, sandbox, relay.id).catch(() => undefined);
  }
}

// The victim project of the isolation matrix: one object of every kind (running sandbox, process
// with open stdin, file, built image with a context, build record, snapshot, registered image,
// token, pool),
// and the check that all of them are exactly as they were.
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "vitest";
import { Image, Sandbox, SandboxClient, type SandboxProcess } from "@sbx-sh/sdk";
import { PWNED_PATH, type Victim } from "./api-routes.js";

export interface VictimHandles {
  v: Victim;
  sandbox: Sandbox;
  process: SandboxProcess;
}

/** `admin` is a unix-socket client: tokens are minted over the socket only. */
export async function createVictim(
  client: SandboxClient,
  project: string,
  admin: SandboxClient,
): Promise<VictimHandles> {
  const tag = Math.random().toString(36).slice(2, 8);
  const sandbox = await Sandbox.create({ allowInternetAccess: false, name: `victim-box-${tag}` }, client);
  const filePath = "/work/victim-secret.txt";
  const fileContent = `victim-file-content-${tag}`;
  await sandbox.writeFile(filePath, fileContent);
  // Waits on stdin, so it keeps running until the victim closes it.
  const process = await sandbox.startProcess("sh", { args: ["-c", "cat > /tmp/stdin.txt"], stdin: true });
  // A terminal left running with nobody attached: its input must only ever be the victim's.
  const terminal = await sandbox.createTerminal({
    cols: 80,
    rows: 24,
    command: "sh",
    args: ["-c", 'read line; echo "$line" > /tmp/tty.txt'],
  });
  await terminal.detach();

  const dir = await mkdtemp(join(tmpdir(), "sbx-victim-"));
  await writeFile(join(dir, "ctx.txt"), `victim-context-${tag}\n`);
  const image = new Image({ name: `victim-img-${tag}`, baseImage: "debian-minimal" }).copy("ctx.txt", "/ctx.txt");
  const definition = await image.toDefinition({ contextDir: dir });
  const built = await image.build({ client, contextDir: dir });
  const step = definition.steps[0];
  if (step?.op !== "copy" && step?.op !== "add") throw new Error("the victim image's first step is a copy");
  const [build] = await client.listBuilds();

  const snapshot = await sandbox.snapshot();
  const snapImageName = `victim-snapimg-${tag}`;
  await client.registerImage(snapImageName, snapshot.id);

  const token = await admin.createToken(project);
  const pool = await client.createPool({ warm: 0 });
  const volume = await client.createVolume("victim-vol", { sizeMb: 16 });

  const v: Victim = {
    project,
    sandboxId: sandbox.id,
    sandboxName: sandbox.name!,
    ipAddress: (await sandbox.info()).ipAddress ?? "no-ip-address",
    processId: process.id,
    terminalId: terminal.id,
    filePath,
    fileContent,
    snapshotId: snapshot.id,
    buildId: build!.id,
    imageName: built.name,
    imageId: built.id,
    snapImageName,
    contextDigest: step.context,
    tokenId: token.id,
    poolId: pool.id,
    volumeName: volume.name,
  };
  return { v, sandbox, process };
}

/** Everything the victim owns is still there and unchanged, and nothing was written into it. */
export async function expectVictimIntact(client: SandboxClient, h: VictimHandles): Promise<void> {
  const { v } = h;
  const sb = await client.get(v.sandboxId);
  expect(sb.status).toBe("running");
  expect(sb.allowOut).toEqual([]);
  expect((await client.list({ all: true })).map((s) => s.id)).toEqual([v.sandboxId]);
  expect((await h.process.info()).status).toBe("running");
  expect((await h.sandbox.listTerminals()).map((t) => [t.id, t.status, t.cols, t.rows])).toEqual([
    [v.terminalId, "running", 80, 24],
  ]);
  expect((await h.sandbox.readFile(v.filePath)).toString()).toBe(v.fileContent);
  await expect(h.sandbox.readFile(PWNED_PATH)).rejects.toMatchObject({ code: "file_not_found" });
  expect((await client.getImage(v.imageName)).id).toBe(v.imageId);
  expect((await client.getImage(v.snapImageName)).name).toBe(v.snapImageName);
  expect((await client.listSnapshots()).map((s) => s.id)).toEqual([v.snapshotId]);
  expect((await client.getSnapshot(v.snapshotId)).status).toBe("completed");
  expect((await client.getBuild(v.buildId)).state).toBe("succeeded");
  expect(await client.hasContext(v.contextDigest)).toBe(true);
  expect((await client.listTokens(v.project)).map((t) => t.id)).toContain(v.tokenId);
  expect((await client.getPool(v.poolId)).id).toBe(v.poolId);
  expect((await client.getVolume(v.volumeName)).name).toBe(v.volumeName);
}

/**
 * The victim's stdin only ever got the victim's bytes; then its snapshot still starts a sandbox
 * with its file. Returns that (terminated) sandbox's id: its files are removed after the answer.
 */
export async function expectVictimUsable(client: SandboxClient, h: VictimHandles): Promise<string> {
  await h.process.writeStdin("from the victim\n");
  await h.process.closeStdin();
  expect((await h.process.wait()).exitCode).toBe(0);
  expect((await h.sandbox.readFile("/tmp/stdin.txt")).toString()).toBe("from the victim\n");
  const restored = await Sandbox.create({ allowInternetAccess: false, snapshotId: h.v.snapshotId }, client);
  try {
    expect((await restored.readFile(h.v.filePath)).toString()).toBe(h.v.fileContent);
  } finally {
    await restored.terminate();
  }
  return restored.id;
}

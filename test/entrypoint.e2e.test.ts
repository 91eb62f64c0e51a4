// Images' ENTRYPOINT and CMD, end to end: a sandbox starts the image's program as a managed
// background process (listed, its output in its logs), unless the request says not to; the
// request's own `entrypoint` replaces it; `sbx run --image x` with no command runs it in the
// foreground with its exit code; contradictory requests are refused and create nothing.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { Image } from "@sbx-sh/sdk";
import { sharedClient, useSandboxes } from "./fixtures.js";
import { REPO } from "./harness.js";

const host = inject("sbxHost");
const client = sharedClient();
const sandbox = useSandboxes(client);

function sbx(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(REPO, "packages", "cli", "bin", "sbx.js"), ...args], {
    env: { ...process.env, SBX_HOST: host },
    encoding: "utf8",
    timeout: 120_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(async () => {
  // ENTRYPOINT + CMD, Docker's way: the CMD is the entrypoint's arguments.
  await new Image({ name: "ep-server", baseImage: "debian-minimal" })
    .entrypoint(["/bin/sh", "-c", 'echo "serving $0 in $(pwd)"; exec sleep 300'])
    .cmd(["port-8080"])
    .workdir("/srv")
    .build({ client, replace: true });
  await new Image({ name: "ep-fg", baseImage: "debian-minimal" })
    .entrypoint(["/bin/sh", "-c", 'echo "hello $0"; exit 3'])
    .cmd(["world"])
    .build({ client, replace: true });
});
afterAll(async () => {
  for (const name of ["ep-server", "ep-fg"])
    await client.transport.empty("DELETE", `/v1/images/${name}`).catch(() => undefined);
});

describe("ENTRYPOINT and CMD", () => {
  it("starts the image's program as a background process, with its output in its logs", async () => {
    const sb = await sandbox({ image: "ep-server" });
    const procs = await sb.listProcesses();
    expect(procs.map((p) => [p.command, p.args, p.status])).toEqual([
      ["/bin/sh", ["-c", 'echo "serving $0 in $(pwd)"; exec sleep 300', "port-8080"], "running"],
    ]);
    const proc = await sb.getProcess(procs[0]!.id);
    await expect
      .poll(async () => sbx(["exec", sb.id, "--", "cat", "/proc/1/cmdline"]).code, { timeout: 10_000 })
      .toBe(0);
    const out: string[] = [];
    await proc.kill();
    await proc.wait({ onStdout: (d) => void out.push(d.toString()) });
    expect(out.join("")).toBe("serving port-8080 in /srv\n");
  });

  it("starts nothing with noEntrypoint, and the request's entrypoint instead of the image's", async () => {
    const quiet = await sandbox({ image: "ep-server", noEntrypoint: true });
    expect(await quiet.listProcesses()).toEqual([]);
    const custom = await sandbox({ image: "ep-server", entrypoint: ["/bin/sh", "-c", "echo custom; sleep 300"] });
    const [p] = await custom.listProcesses();
    expect([p?.command, p?.args]).toEqual(["/bin/sh", ["-c", "echo custom; sleep 300"]]);
    const cli = sbx(["new", "--image", "ep-server", "--no-entrypoint", "-q"]);
    expect(cli.code, cli.stderr).toBe(0);
    const id = cli.stdout.trim();
    try {
      expect(await client.transport.json<{ processes: unknown[] }>("GET", `/v1/sandboxes/${id}/processes`)).toEqual({
        processes: [],
      });
    } finally {
      await client.terminate(id);
    }
  });

  it("runs the image's program in the foreground with `sbx run --image x` and no command", () => {
    const r = sbx(["run", "--image", "ep-fg"]);
    expect([r.code, r.stdout]).toEqual([3, "hello world\n"]);
    const none = sbx(["run", "--image", "debian-minimal"]);
    expect(none.code).toBe(125);
    expect(none.stderr).toMatch(/has no ENTRYPOINT or CMD: put a command after --/);
  });

  it("refuses entrypoint with noEntrypoint, or an empty entrypoint, and creates nothing", async () => {
    const before = (await client.list()).length;
    await expect(
      client.create({ image: "ep-server", entrypoint: ["/bin/true"], noEntrypoint: true }),
    ).rejects.toMatchObject({ code: "invalid_argument", message: expect.stringMatching(/entrypoint or noEntrypoint/) });
    await expect(client.create({ image: "ep-server", entrypoint: [] })).rejects.toMatchObject({
      code: "out_of_range",
      message: expect.stringMatching(/entrypoint/),
    });
    expect((await client.list()).length).toBe(before);
  });
});

// The fix-and-retry loop of a build, end to end on the real daemon: a 5-step build whose last step
// fails, retried after the fix from the CLI, shows every earlier step CACHED; a name clash is
// refused before any step runs; WORKDIR and small COPYs (written by the daemon without a build
// sandbox) give the same files, owners and modes as a COPY done in a sandbox.
import { spawnSync } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, inject, it } from "vitest";
import { Image, type BuildEvent } from "@sbx-sh/sdk";
import { sharedClient, useSandboxes } from "./fixtures.js";
import { REPO } from "./harness.js";

const host = inject("sbxHost");
const client = sharedClient();
const sandbox = useSandboxes(client);

function sbx(args: string[]): { code: number; out: string } {
  const r = spawnSync(process.execPath, [join(REPO, "packages", "cli", "bin", "sbx.js"), ...args], {
    env: { ...process.env, SBX_HOST: host },
    encoding: "utf8",
    timeout: 300_000,
  });
  return { code: r.status ?? -1, out: r.stdout + r.stderr };
}

afterAll(async () => {
  for (const name of ["retry", "owners"])
    await client.transport.empty("DELETE", `/v1/images/${name}`).catch(() => undefined);
});

async function imageFile(last: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "sbx-retry-"));
  await writeFile(join(dir, "app.txt"), "the app\n");
  await writeFile(
    join(dir, "image.ts"),
    `import { Image } from "sbx";\nexport const img = new Image({ name: "retry", baseImage: "debian-minimal" })\n` +
      `  .run("echo one > /one")\n  .env("A", "1")\n  .workdir("/app")\n  .copy("app.txt", "app.txt")\n` +
      `  .run(${JSON.stringify(last)});\n`,
  );
  return join(dir, "image.ts");
}

describe("builds retry fast", () => {
  it("retries a 5-step build whose last step failed with every earlier step CACHED", async () => {
    const broken = sbx(["image", "create", await imageFile("cat app.txt > /seen; exit 3"), "--progress", "plain"]);
    expect(broken.code, broken.out).not.toBe(0);
    expect(broken.out).toMatch(/step 5/);
    const fixed = sbx(["image", "create", await imageFile("cat app.txt > /seen"), "--progress", "plain"]);
    expect(fixed.code, fixed.out).toBe(0);
    expect(fixed.out.match(/CACHED \[[1-4]\/5\]/g)).toEqual([
      "CACHED [1/5]",
      "CACHED [2/5]",
      "CACHED [3/5]",
      "CACHED [4/5]",
    ]);
    expect(fixed.out).not.toMatch(/CACHED \[5\/5\]/);
    const sb = await sandbox({ image: "retry" });
    const r = await sb.run("sh", { args: ["-c", "pwd; cat /one /seen; echo $A"] });
    expect(r.stdout).toBe("/app\none\nthe app\n1\n");
  });

  it("refuses a name clash before the first step runs, and builds it with --replace", async () => {
    const before = (await client.transport.json<{ builds: unknown[] }>("GET", "/v1/builds")).builds.length;
    const other = new Image({ name: "retry", baseImage: "debian-minimal" }).run("echo other > /other");
    await expect(other.build({ client })).rejects.toMatchObject({
      code: "already_exists",
      message: expect.stringMatching(/retry:latest already exists.*--replace/),
    });
    // No build was even started.
    expect((await client.transport.json<{ builds: unknown[] }>("GET", "/v1/builds")).builds).toHaveLength(before);
    const replaced = await other.build({ client, replace: true });
    const sb = await sandbox({ image: "retry" });
    expect((await sb.run("cat", { args: ["/other"] })).stdout).toBe("other\n");
    expect((await sb.info()).imageId).toBe(replaced.id);
  });

  it("gives host-written WORKDIR and small COPY layers the owners and modes a sandbox COPY gives", async () => {
    const dir = await mkdtemp(join(tmpdir(), "sbx-owners-"));
    await writeFile(join(dir, "small.txt"), "small\n", { mode: 0o640 });
    // Over the host path's size limit: copied in a build sandbox.
    await writeFile(join(dir, "big.txt"), Buffer.alloc(2 << 20, 97), { mode: 0o640 });
    const events: BuildEvent[] = [];
    await new Image({ name: "owners", baseImage: "debian-minimal" })
      .workdir("/srv/app")
      .copy("small.txt", "/opt/small/", { chown: "1000:1000" })
      .copy("big.txt", "/opt/big/", { chown: "1000:1000" })
      .copy("small.txt", "/tmp/small.txt")
      .build({ client, contextDir: dir, replace: true, noCache: true, onEvent: (e) => void events.push(e) });
    const sb = await sandbox({ image: "owners" });
    const r = await sb.run("stat", {
      args: [
        "-c",
        "%n %a %u:%g",
        "/srv",
        "/srv/app",
        "/opt/small",
        "/opt/small/small.txt",
        "/opt/big",
        "/opt/big/big.txt",
        "/tmp",
        "/tmp/small.txt",
      ],
    });
    expect(r.stdout.trim().split("\n")).toEqual([
      "/srv 755 0:0",
      "/srv/app 755 0:0",
      "/opt/small 755 0:0",
      "/opt/small/small.txt 640 1000:1000",
      "/opt/big 755 0:0",
      "/opt/big/big.txt 640 1000:1000",
      "/tmp 1777 0:0",
      "/tmp/small.txt 640 0:0",
    ]);
    expect((await sb.run("cat", { args: ["/opt/small/small.txt"] })).stdout).toBe("small\n");
    expect(events.filter((e) => e.type === "step_done")).toHaveLength(4);
  });
});

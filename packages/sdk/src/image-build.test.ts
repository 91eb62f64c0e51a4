// image.build() against sbxd on the fake runtime: contexts uploaded only when missing, the request and the
// events, a cached rebuild, failures as SbxError with the step's details, and cancellation; every kind
// of step the SDK writes passes the daemon's validation.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { c, Header } from "tar";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BuildEvent } from "@sbx-sh/protocol";
import { followBuild, Image, SandboxClient, SbxError } from "./index.js";
import { TestDaemon } from "../../daemon/src/testing/test-daemon.js";

let fake: TestDaemon;
let client: SandboxClient;
const ctx = mkdtempSync(join(tmpdir(), "sbx-build-test-"));

beforeAll(async () => {
  fake = await TestDaemon.start();
  client = new SandboxClient({ host: fake.host, env: {} });
  mkdirSync(join(ctx, "scripts"));
  writeFileSync(join(ctx, "scripts", "prepare.py"), "print(1)\n");
  writeFileSync(join(ctx, "app.py"), "print(2)\n");
});
afterAll(async () => {
  await client.close();
  await fake.stop();
  rmSync(ctx, { recursive: true, force: true });
});

const requests = (method: string, prefix: string) =>
  fake.requests.filter((r) => r.method === method && r.url.startsWith(prefix));

describe("image.build", () => {
  it("uploads the missing contexts, starts the build, streams events and resolves to the image", async () => {
    const img = new Image({ name: "tools" })
      .run("echo hi")
      .copy("scripts/", "/opt/scripts/")
      .copy("app.py", "/opt/")
      .copy("scripts", "/again/");
    const events: BuildEvent[] = [];
    const detail = await img.build({ client, contextDir: ctx, onEvent: (e) => events.push(e) });
    expect(detail).toMatchObject({ name: "tools", tag: "latest", kind: "built", layers: expect.any(Array) });
    // Two distinct contexts (the same folder twice is one digest): two HEADs, two PUTs.
    expect(requests("HEAD", "/v1/contexts/sha256%3A")).toHaveLength(2);
    expect(requests("PUT", "/v1/contexts/sha256%3A")).toHaveLength(2);
    const post = JSON.parse(requests("POST", "/v1/builds").at(-1)!.body) as { definition: unknown };
    expect(post.definition).toEqual(await img.toDefinition({ contextDir: ctx }));
    expect(events.map((e) => e.type)).toEqual([
      "build",
      "step",
      "log",
      "step_done",
      ...Array(3).fill(["step", "step_done"]).flat(),
      "done",
    ]);
  });

  it("rebuilds unchanged with nothing uploaded and every step cached; a changed image needs replace", async () => {
    const img = new Image({ name: "tools" })
      .run("echo hi")
      .copy("scripts/", "/opt/scripts/")
      .copy("app.py", "/opt/")
      .copy("scripts", "/again/");
    const puts = requests("PUT", "/v1/contexts/").length;
    const steps: BuildEvent[] = [];
    await img.build({ client, contextDir: ctx, onEvent: (e) => e.type === "step" && steps.push(e) });
    expect(requests("PUT", "/v1/contexts/").length).toBe(puts);
    expect(steps.map((e) => e.type === "step" && e.cached)).toEqual([true, true, true, true]);
    const changed = new Image({ name: "tools" }).run("echo changed");
    // Refused when the build is asked for, before any step runs.
    await expect(changed.build({ client })).rejects.toMatchObject({
      code: "already_exists",
      message: expect.stringMatching(/^image tools:latest already exists .*--replace/),
    });
    expect((await changed.build({ client, replace: true })).layers).toHaveLength(1);
    expect(JSON.parse(requests("POST", "/v1/builds").at(-1)!.body)).toMatchObject({ replace: true });
  });

  it("throws the failure with step, text, source line, exit code and last lines", async () => {
    const img = new Image({ name: "broken" }).env("A", "1").run("make && exit 3");
    const err = (await img
      .build({ client, registeredName: "broken-x", tag: "t1", noCache: true })
      .catch((e: unknown) => e)) as SbxError;
    expect(err).toBeInstanceOf(SbxError);
    expect(err.code).toBe("failed_precondition");
    expect(err.message).toMatch(
      /^build bld-\w+ of broken-x:t1 failed at step 2\/2 RUN make && exit 3 \(packages\/sdk\/src\/image-build\.test\.ts:\d+:\d+\): step 2 failed with exit code 3 \(exit code 3\)$/,
    );
    expect(err.details).toMatchObject({
      step: 2,
      text: "RUN make && exit 3",
      exitCode: 3,
      lastLines: ["cc -o app main.c", "boom: it broke"],
      source: { file: "packages/sdk/src/image-build.test.ts" },
    });
    expect(JSON.parse(requests("POST", "/v1/builds").at(-1)!.body)).toMatchObject({
      registeredName: "broken-x",
      tag: "t1",
      noCache: true,
    });
  });

  it("writes every kind of step in a shape the daemon's validation takes", async () => {
    c({ gzip: true, file: join(ctx, "assets.tar.gz"), cwd: ctx, sync: true }, ["scripts"]);
    const every = new Image({ name: "every-step" })
      .run("echo hi")
      .run(["sh", "-c", "echo exec form"])
      .env("A", "1")
      .workdir("/opt/app")
      .copy("scripts/", "./scripts/", { chown: "1000:1000", chmod: 0o755 })
      .add("assets.tar.gz", "/opt/app/assets/")
      .user("app")
      .entrypoint(["python3"])
      .cmd("app.py");
    const post = (definition: unknown) => client.transport.json("POST", "/v1/builds", { json: { definition } });
    // Past the validation, the daemon only asks for what is missing: the files, the source image.
    const def = await every.toDefinition({ contextDir: ctx });
    await expect(post(def)).rejects.toMatchObject({ code: "failed_precondition", message: /were not uploaded/ });
    const from = new Image("app").copyFrom("builder:v1", ["/out/app", "/out/lib/*.so"], "/usr/local/", {
      chown: "app",
    });
    await expect(post(await from.toDefinition())).rejects.toMatchObject({ code: "image_not_found" });
    // What the validation refuses looks otherwise.
    await expect(post({ ...def, steps: [{ ...def.steps[4], chmod: 755 }] })).rejects.toMatchObject({
      code: "invalid_argument",
    });
  });

  it("cancels the build on the daemon when the signal aborts", async () => {
    const abort = new AbortController();
    const img = new Image({ name: "slow" }).run("wait-for-cancel");
    const done = img.build({ client, signal: abort.signal, onEvent: (e) => e.type === "log" && abort.abort() });
    await expect(done).rejects.toMatchObject({ name: "AbortError" });
    const del = requests("DELETE", "/v1/builds/").at(-1)!;
    const id = del.url.split("/").pop()!;
    expect((await client.getBuild(id)).state).toBe("cancelled");
    // A timeout signal rejects with its own reason, as fetch does.
    const timedOut = new Image({ name: "slow" })
      .run("wait-for-cancel")
      .build({ client, signal: AbortSignal.timeout(300) });
    await expect(timedOut).rejects.toMatchObject({ name: "TimeoutError" });
    expect(requests("DELETE", "/v1/builds/").at(-1)!.url).not.toBe(del.url);
  });

  it("refuses a hostile archive before uploading or starting anything", async () => {
    const h = new Header({ path: "../../etc/cron.d/x", type: "File", size: 0, mode: 0o644, mtime: new Date(0) });
    h.encode();
    writeFileSync(join(ctx, "evil.tar"), Buffer.concat([h.block!, Buffer.alloc(1024)]));
    const before = fake.requests.length;
    const img = new Image({ name: "evil" }).copy("app.py", "/app/").add("evil.tar", "/opt/");
    await expect(img.build({ client, contextDir: ctx })).rejects.toMatchObject({
      code: "invalid_archive",
      message: expect.stringMatching(
        /^image evil: step 2\/2 \(ADD evil\.tar \/opt\/ at packages\/sdk\/src\/image-build\.test\.ts:\d+:\d+\): refusing to unpack/,
      ),
    });
    expect(fake.requests.length).toBe(before);
  });

  it("starts without following, and followBuild re-attaches to the events", async () => {
    const build = await new Image({ name: "detached" }).run("echo x").startBuild({ client });
    // Answered as created: queued, before the daemon starts it.
    expect(build).toMatchObject({ imageName: "detached", state: "queued" });
    const seen: string[] = [];
    const image = await followBuild(client, build.id, { onEvent: (e) => seen.push(e.type) });
    expect(image.name).toBe("detached");
    expect(seen.at(-1)).toBe("done");
    expect((await client.listBuilds())[0]!.id).toBe(build.id);
    expect((await client.getImage("detached:latest")).buildId).toBe(build.id);
    expect((await client.deleteImage("detached")).name).toBe("detached");
    await expect(client.getImage("detached")).rejects.toMatchObject({ code: "image_not_found" });
  });
});

// Contract tests of image builds through the real, unchanged `tensorlake` SDK (Node 22, see
// test/tensorlake/sdk.ts) on a real daemon and real crun sandboxes: COPY/ADD from the build
// context the SDK uploads into its builder sandbox, multi-stage Dockerfiles with `COPY --from`,
// the errors of a bad context (a path leaving it, a symlink out of it, a missing file or stage),
// and template builds that a daemon killed with SIGKILL leaves behind. The simple build (RUN, ENV,
// streamed logs) is in tensorlake.e2e.test.ts.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Sandbox, type SandboxClient } from "@sbx-sh/sdk";
import type { TestDaemon } from "./harness.js";
import { startTensorlakeDaemon, type TensorlakeDaemon } from "./tensorlake/daemon.js";
import { runSdk, type SdkTarget } from "./tensorlake/sdk.js";

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON an SDK script returned: the assertions check its shape
type Seen = Record<string, any>;

let tl: TensorlakeDaemon;
let daemon: TestDaemon;
let admin: SandboxClient;
let target: SdkTarget;
let base = "";
const SCOPE = { TENSORLAKE_ORGANIZATION_ID: "sbx", TENSORLAKE_PROJECT_ID: "default" };
const BUILDS = "/platform/v1/organizations/sbx/projects/default/sandbox-template-builds";
const CONTEXT = "/var/lib/tensorlake/rootfs-builder/build/context";

beforeAll(async () => {
  tl = await startTensorlakeDaemon("tensorlake-builds", 9);
  ({ daemon, admin, target, base } = tl);
});
afterAll(() => tl.stop());

const auth = (): Record<string, string> => ({ authorization: `Bearer ${target.apiKey}` });

async function prepare(name: string, dockerfile: string): Promise<{ status: number; body: Seen }> {
  const res = await fetch(`${base}${BUILDS}`, {
    method: "POST",
    headers: { ...auth(), "content-type": "application/json" },
    body: JSON.stringify({ name, dockerfile }),
  });
  return { status: res.status, body: (await res.json()) as Seen };
}

describe("tensorlake image builds with a build context and stages", () => {
  it("copies files from the build context and from earlier stages (Image.build and a Dockerfile)", async () => {
    const before = (await admin.list()).map((s) => s.id).sort();
    const out = await runSdk<Seen>(
      target,
      `const fs = await import("node:fs");
       const ctx = fs.mkdtempSync("/tmp/tl-ctx-");
       fs.writeFileSync(ctx + "/hello.txt", "hello-from-context\\n");
       fs.mkdirSync(ctx + "/app/sub", { recursive: true });
       fs.writeFileSync(ctx + "/app/sub/data.txt", "nested-file\\n");
       fs.writeFileSync(ctx + "/app/run.sh", "#!/bin/sh\\necho run-sh-ran\\n", { mode: 0o755 });
       fs.mkdirSync(ctx + "/pkg/inner", { recursive: true });
       fs.writeFileSync(ctx + "/pkg/inner/file.txt", "from-archive\\n");
       const cp = await import("node:child_process");
       cp.execFileSync("tar", ["-czf", ctx + "/bundle.tar.gz", "-C", ctx + "/pkg", "inner"]);
       const logs = [];
       const write = process.stderr.write.bind(process.stderr);
       process.stderr.write = (chunk, ...rest) => { logs.push(String(chunk)); return write(chunk, ...rest); };
       const tmpl = await new tl.Image({ name: "tl-ctx", baseImage: "tensorlake/debian-minimal" })
         .copy("hello.txt", "/opt/hello.txt")
         .copy("app", "/srv/app")
         .add("bundle.tar.gz", "/opt/bundle/")
         .run("cat /opt/hello.txt /srv/app/sub/data.txt /opt/bundle/inner/file.txt > /combined")
         .build({ registeredName: "tl-ctx", contextDir: ctx, verbose: true });
       fs.writeFileSync(ctx + "/Dockerfile", [
         "FROM tensorlake/debian-minimal AS builder",
         "COPY app/run.sh /src/run.sh",
         "RUN /src/run.sh > /artifact",
         "FROM debian-minimal",
         "COPY --from=builder /artifact /from-builder",
         "COPY --from=0 /src/run.sh /usr/local/bin/run-it",
         "COPY hello.txt /",
       ].join("\\n") + "\\n");
       const multi = await tl.createSandboxImage(ctx + "/Dockerfile", { registeredName: "tl-multi" });
       let missing;
       try { await new tl.Image({ name: "tl-missing", baseImage: "debian-minimal" }).copy("nope.txt", "/x").build({ registeredName: "tl-missing", contextDir: ctx }); } catch (e) { missing = String(e.message); }
       const sb = await tl.Sandbox.create({ apiUrl: env.apiUrl, apiKey: env.apiKey, image: "tl-ctx" });
       const one = await sb.run("sh", { args: ["-c", "cat /combined; stat -c %U:%a /opt/hello.txt /srv/app/run.sh"] });
       await sb.terminate();
       const sb2 = await tl.Sandbox.create({ apiUrl: env.apiUrl, apiKey: env.apiKey, image: "tl-multi" });
       const two = await sb2.run("sh", { args: ["-c", "cat /from-builder /hello.txt; run-it; test -e /src && echo stage-leaked || echo clean"] });
       await sb2.terminate();
       return { tmpl, multi, one, two, missing, logs: logs.join("") };`,
      SCOPE,
    );
    // Files, folders and an unpacked ADD archive from the context, owned by root with their modes.
    expect(out.one).toMatchObject({
      exitCode: 0,
      stdout: "hello-from-context\nnested-file\nfrom-archive\nroot:644\nroot:755",
    });
    expect(out.tmpl).toMatchObject({ name: "tl-ctx", id: (await admin.getImage("tl-ctx")).id });
    expect(out.logs).toContain("taking hello.txt from the build context");
    // The stage ran first; its files, by name and by index, are in the target; the stage's own tree is not.
    expect(out.two).toMatchObject({ exitCode: 0, stdout: "run-sh-ran\nhello-from-context\nrun-sh-ran\nclean" });
    expect(out.multi).toMatchObject({ name: "tl-multi", id: (await admin.getImage("tl-multi")).id });
    expect((await admin.getImage("tl-multi:stage-builder")).id).toMatch(/^sha256:/);
    // A source missing from the context fails the build with its name; nothing is registered.
    expect(out.missing).toMatch(/tl-rootfs-build.*failed/);
    await expect(admin.getImage("tl-missing")).rejects.toMatchObject({ code: "image_not_found" });
    expect((await admin.list()).map((s) => s.id).sort()).toEqual(before);
  });

  it("refuses sources outside the context and missing stages at prepare, naming the line", async () => {
    const cases: Array<[string, RegExp]> = [
      ["FROM debian-minimal\nCOPY ../secret /x\n", /Dockerfile:2: .*\.\.\/secret is outside the build context/],
      [
        "FROM debian-minimal\nCOPY /etc/passwd /x\n",
        /Dockerfile:2: .*\/etc\/passwd: sources are paths in the build context/,
      ],
      ["FROM debian-minimal\nCOPY --from=2 /a /b\n", /Dockerfile:2: .*--from=2: no such stage before this one/],
      [
        "FROM debian-minimal AS a\nFROM debian-minimal\nCOPY --from=nosuch /a /b\n",
        /Dockerfile:3: COPY --from=nosuch: no earlier stage/,
      ],
      ["FROM debian-minimal\nADD https://example.com/x.tgz /x\n", /ADD of a URL/],
    ];
    for (const [dockerfile, message] of cases) {
      const r = await prepare("tl-bad-ctx", dockerfile);
      expect(r.status, dockerfile).toBeGreaterThanOrEqual(400);
      expect(r.body.error?.message ?? "", dockerfile).toMatch(message);
    }
  });

  it("refuses a context symlink that leads outside it, inside the builder sandbox", async () => {
    // The SDK's part done by hand: prepare, a builder sandbox with the context unpacked (here with
    // a link to /etc), the spec, then tl-rootfs-build through the process route.
    const prep = await prepare("tl-symlink", "FROM debian-minimal\nCOPY link/hostname /stolen\n");
    expect(prep.status).toBe(200);
    const sb = await Sandbox.create({ image: "debian-minimal" }, admin);
    const setup = await sb.run("sh", {
      args: [
        "-c",
        `mkdir -p ${CONTEXT} && ln -s /etc ${CONTEXT}/link && printf '{"buildId":"${prep.body.buildId}"}' > ${CONTEXT}/../spec.json`,
      ],
      user: "root",
    });
    expect(setup.exitCode).toBe(0);
    const headers = { ...auth(), "x-tensorlake-sandbox-id": sb.id, "content-type": "application/json" };
    const started = await fetch(`${base}/api/v1/processes`, {
      method: "POST",
      headers,
      body: JSON.stringify({
        command: "tl-rootfs-build",
        args: ["--spec", `${CONTEXT}/../spec.json`, "--metadata-out", `${CONTEXT}/../metadata.json`],
      }),
    });
    const pid = ((await started.json()) as Seen).pid as number;
    const follow = await fetch(`${base}/api/v1/processes/${pid}/output/follow`, { headers });
    const log = await follow.text();
    expect(log).toMatch(/link\/hostname leads outside the build context through a symbolic link/);
    const info = (await (await fetch(`${base}/api/v1/processes/${pid}`, { headers })).json()) as Seen;
    expect(info.exit_code).toBe(1);
    const complete = await fetch(`${base}${BUILDS}/${prep.body.buildId}/complete`, {
      method: "POST",
      headers,
      body: "{}",
    });
    expect(complete.status).toBeGreaterThanOrEqual(400);
    expect(((await complete.json()) as Seen).error.message).toMatch(/leads outside the build context/);
    await expect(admin.getImage("tl-symlink")).rejects.toMatchObject({ code: "image_not_found" });
    await sb.terminate();
  });

  it("cancels a build whose builder sandbox ends before it finishes (the SDK gave up)", async () => {
    const prep = await prepare("tl-gave-up", "FROM debian-minimal\nRUN echo started-sleeping && sleep 600\n");
    expect(prep.status).toBe(200);
    const sb = await Sandbox.create({ image: "debian-minimal" }, admin);
    const spec = `${CONTEXT}/../spec.json`;
    await sb.run("sh", {
      args: ["-c", `mkdir -p ${CONTEXT} && printf '{"buildId":"${prep.body.buildId}"}' > ${spec}`],
      user: "root",
    });
    const headers = { ...auth(), "x-tensorlake-sandbox-id": sb.id, "content-type": "application/json" };
    const started = await fetch(`${base}/api/v1/processes`, {
      method: "POST",
      headers,
      body: JSON.stringify({
        command: "tl-rootfs-build",
        args: ["--spec", spec, "--metadata-out", `${CONTEXT}/../m.json`],
      }),
    });
    expect(started.status).toBe(200);
    // Once the RUN is running, the builder goes away.
    const follow = await fetch(`${base}/api/v1/processes/${((await started.json()) as Seen).pid}/output/follow`, {
      headers,
    });
    const reader = follow.body!.getReader();
    for (let seen = ""; !seen.includes("started-sleeping");)
      seen += new TextDecoder().decode((await reader.read()).value);
    await reader.cancel();
    await sb.terminate();
    let st: Seen;
    do st = (await (await fetch(`${base}${BUILDS}/${prep.body.buildId}`, { headers: auth() })).json()) as Seen;
    while (st.status === "prepared" || st.status === "building");
    expect(st).toMatchObject({
      status: "failed",
      error: expect.stringMatching(/builder sandbox .* ended before the build finished/),
    });
    await expect(admin.getImage("tl-gave-up")).rejects.toMatchObject({ code: "image_not_found" });
    const builds = await admin.listBuilds();
    expect(builds.find((b) => b.imageName === "tl-gave-up")?.state).toBe("cancelled");
  });

  it("keeps template builds across a daemon killed with SIGKILL: one in progress fails with the reason", async () => {
    const status = async (id: string): Promise<Seen> =>
      (await (await fetch(`${base}${BUILDS}/${id}`, { headers: auth() })).json()) as Seen;
    const complete = (id: string) =>
      fetch(`${base}${BUILDS}/${id}/complete`, {
        method: "POST",
        headers: { ...auth(), "content-type": "application/json" },
        body: "{}",
      });
    // One build that finishes, one that is still running (its RUN sleeps) when the daemon dies.
    const done = await prepare("tl-kept", "FROM debian-minimal\nRUN echo kept > /kept\n");
    expect(done.status).toBe(200);
    let finished = await status(done.body.buildId);
    while (finished.status === "prepared" || finished.status === "building") finished = await status(done.body.buildId);
    expect(finished).toMatchObject({ status: "succeeded", templateId: (await admin.getImage("tl-kept")).id });
    const running = await prepare("tl-killed", "FROM debian-minimal\nRUN sleep 600\n");
    expect(running.status).toBe(200);
    expect((await status(running.body.buildId)).status).toMatch(/^(prepared|building)$/);

    await daemon.stop("SIGKILL");
    await daemon.start();

    // The one in progress is failed with the reason, at once (nothing waits for its build); complete says why.
    expect(await status(running.body.buildId)).toMatchObject({
      status: "failed",
      error: expect.stringMatching(/daemon restarted/),
      templateId: null,
    });
    const refused = await complete(running.body.buildId);
    expect(refused.status).toBe(412);
    expect(((await refused.json()) as Seen).error.message).toMatch(/failed: the daemon restarted/);
    await expect(admin.getImage("tl-killed")).rejects.toMatchObject({ code: "image_not_found" });
    // The finished one is still there and still completes to its template.
    expect(await status(done.body.buildId)).toMatchObject({ status: "succeeded", templateId: finished.templateId });
    const kept = await complete(done.body.buildId);
    expect(kept.status).toBe(200);
    expect(await kept.json()).toMatchObject({ id: finished.templateId, name: "tl-kept" });
    // Unknown ids, and another project's view, are 404s.
    expect((await fetch(`${base}${BUILDS}/tlb-doesnotexist`, { headers: auth() })).status).toBe(404);
  });
});

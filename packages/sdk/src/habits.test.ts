// Calls written the way other sandbox SDKs spell them (Tensorlake, E2B) work or fail with the right
// call in the message; and the newer client calls: setTimeout, label filters, prune.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Image, Sandbox, SandboxClient } from "./index.js";
import { TestDaemon } from "../../daemon/src/testing/test-daemon.js";

let fake: TestDaemon;
let client: SandboxClient;

beforeAll(async () => {
  fake = await TestDaemon.start({ baseImages: ["debian-minimal"] });
  client = new SandboxClient({ host: fake.host, env: {} });
});
afterAll(() => fake.stop());

describe("Tensorlake and E2B habits", () => {
  it("takes new Image(name, tag, baseImage)", () => {
    expect(new Image("web", "v1", "debian-minimal")).toMatchObject({
      name: "web",
      tag: "v1",
      baseImage: "debian-minimal",
    });
  });

  it("connects with { sandboxId } and explains a bad argument", async () => {
    const sb = await Sandbox.create({ allowInternetAccess: false }, client);
    expect((await Sandbox.connect({ sandboxId: sb.id }, client)).id).toBe(sb.id);
    await expect(Sandbox.connect({} as never, client)).rejects.toMatchObject({
      code: "invalid_argument",
      message: expect.stringContaining("{ sandboxId:"),
    });
    await sb.terminate();
  });

  it("refuses run('echo hello world') with the two right calls in the message", async () => {
    const sb = await Sandbox.create({ allowInternetAccess: false }, client);
    const err = await sb.run("echo hello world").catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "invalid_argument" });
    expect((err as Error).message).toContain('run("echo", { args: ["hello","world"] })');
    expect((err as Error).message).toContain('run("sh", { args: ["-c", "echo hello world"] })');
    await sb.terminate();
  });
});

describe("timeouts, labels, retention", () => {
  it("extends a sandbox's timeout from now", async () => {
    const sb = await Sandbox.create({ allowInternetAccess: false, timeoutSecs: 60 }, client);
    const before = Date.parse(sb.lastInfo.expiresAt!);
    const info = await sb.setTimeout(3600);
    expect(Date.parse(info.expiresAt!)).toBeGreaterThan(before + 3000 * 1000);
    expect((await sb.setTimeout(0)).expiresAt).toBeNull();
    await expect(client.setTimeout(sb.id, -1)).rejects.toMatchObject({ code: "out_of_range" });
    await sb.terminate();
    await expect(sb.setTimeout(10)).rejects.toMatchObject({ code: "sandbox_not_running" });
  });

  it("filters by label, status and image, and refuses a label with a newline", async () => {
    const a = await client.create({ allowInternetAccess: false, labels: { team: "ml", env: "dev" } });
    const b = await client.create({ allowInternetAccess: false, labels: { team: "web" } });
    const ids = async (o: Parameters<SandboxClient["list"]>[0]) => (await client.list(o)).map((s) => s.id).sort();
    expect(await ids({ labels: ["team=ml"] })).toEqual([a.id]);
    expect(await ids({ labels: { team: "web" } })).toEqual([b.id]);
    expect(await ids({ labels: ["team"] })).toEqual([a.id, b.id].sort());
    expect(await ids({ labels: ["team=ml"], image: "debian-minimal" })).toEqual([a.id]);
    expect(await ids({ labels: ["team=ml"], image: "other" })).toEqual([]);
    await client.terminate(b.id);
    expect(await ids({ labels: ["team"], status: "terminated" })).toEqual([b.id]);
    const before = (await client.list({ all: true })).length;
    await expect(client.create({ labels: { team: "a\nb" } })).rejects.toMatchObject({ code: "invalid_argument" });
    expect((await client.list({ all: true })).length).toBe(before);
    await client.terminate(a.id);
  });

  it("prunes terminated sandboxes on request, and terminating twice is quiet", async () => {
    const sb = await client.create({ allowInternetAccess: false });
    const live = await client.create({ allowInternetAccess: false });
    const ended = await client.terminate(sb.id);
    expect(await client.terminate(sb.id)).toMatchObject({ status: "terminated", terminatedAt: ended.terminatedAt });
    const pruned = (await client.prune()).map((s) => s.id);
    expect(pruned).toContain(sb.id);
    expect((await client.list({ all: true })).map((s) => s.id)).not.toContain(sb.id);
    expect((await client.list()).map((s) => s.id)).toContain(live.id);
    await expect(client.get(sb.id)).rejects.toMatchObject({ code: "sandbox_not_found" });
    await client.terminate(live.id);
  });
});

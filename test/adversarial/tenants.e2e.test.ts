// One project attacking another through what the daemon shares between them (F5 of the second
// security round): the build step cache. A project that replays another's steps must not receive
// its layers (a build-time secret), learn through `cached` what it built, or poison its builds.
import { describe, expect, inject, it } from "vitest";
import { Image, Sandbox, SandboxClient, type BuildEvent } from "@sbx-sh/sdk";
import { sharedClient } from "../fixtures.js";

const host = inject("sbxHost");
const admin = sharedClient();
const STEPS = (img: Image): Image => img.run("head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \\n' > /build-secret");

async function build(client: SandboxClient, name: string): Promise<{ cached: boolean[]; secret: string }> {
  const events: BuildEvent[] = [];
  await STEPS(new Image({ name, baseImage: "debian-minimal" })).build({ client, onEvent: (e) => events.push(e) });
  const cached = events.flatMap((e) => (e.type === "step" ? [e.cached] : []));
  const sb = await Sandbox.create({ image: name, allowInternetAccess: false }, client);
  try {
    return { cached, secret: (await sb.readFile("/build-secret")).toString() };
  } finally {
    await sb.terminate();
  }
}

describe("the build cache", () => {
  it("is per project: another project's identical steps run afresh, and its own rebuild is cached", async () => {
    const run = `${process.pid}-${Date.now()}`;
    const [pa, pb] = [`victim-${run}`, `attacker-${run}`];
    await admin.createProject(pa);
    await admin.createProject(pb);
    const victim = new SandboxClient({ host, project: pa });
    const attacker = new SandboxClient({ host, project: pb });

    const first = await build(victim, "cache-secret");
    expect(first.cached).toEqual([false]);
    expect(first.secret).toMatch(/^[0-9a-f]{32}$/);
    // Same base, same steps, another project: neither the layer nor the fact that it exists.
    const stolen = await build(attacker, "cache-secret");
    expect(stolen.cached).toEqual([false]);
    expect(stolen.secret).not.toBe(first.secret);
    // The victim's own cache still works and still holds its own layer, not the attacker's.
    const again = await build(victim, "cache-secret-2");
    expect(again.cached).toEqual([true]);
    expect(again.secret).toBe(first.secret);
  });
});

// One project attacking another through what the daemon shares between them (F5 of the second
// security round): the build step cache. A project that replays another's steps must not receive
// its layers (a build-time secret), learn through `cached` what it built, or poison its builds.
// Build contexts too: stored once by digest, but a project must not learn whether another uploaded
// a given tar (the SDK packs deterministically, so guesses of a copied file can be confirmed).
import { createHash } from "node:crypto";
import { describe, expect, inject, it } from "vitest";
import { Image, Sandbox, SandboxClient, type BuildEvent } from "@sbx-sh/sdk";
import { writeTar } from "../../packages/daemon/src/runtime/testing/memory-tar.js";
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

describe("build contexts", () => {
  it("are per project: another can neither confirm a guessed context by its digest nor build with it", async () => {
    const run = `${process.pid}-${Date.now()}`;
    const [pa, pb] = [`ctx-victim-${run}`, `ctx-attacker-${run}`];
    await admin.createProject(pa);
    await admin.createProject(pb);
    const victim = new SandboxClient({ host, project: pa });
    const attacker = new SandboxClient({ host, project: pb });
    // Packed as the SDK packs a copy step: sorted, mtime 0, so the digest follows from the bytes.
    const tarOf = (pin: string) =>
      writeTar([{ name: "0/secret.env", type: "file", data: Buffer.from(`pin=${pin}\n`) }]);
    const digestOf = (tar: Buffer) => `sha256:${createHash("sha256").update(tar).digest("hex")}`;
    const secret = tarOf("4821");
    await victim.uploadContext(digestOf(secret), secret);
    expect(await victim.hasContext(digestOf(secret))).toBe(true);

    // Every guess looks alike: the right one is not told apart.
    for (const pin of ["4820", "4821", "4822"]) expect(await attacker.hasContext(digestOf(tarOf(pin)))).toBe(false);
    const steal = (name: string) => ({
      definition: {
        name,
        baseImage: "debian-minimal",
        steps: [
          {
            op: "copy" as const,
            context: digestOf(secret),
            sources: [{ name: "secret.env", type: "file" as const }],
            dest: "/s",
          },
        ],
      },
    });
    await expect(attacker.createBuild(steal("stolen-ctx"))).rejects.toMatchObject({ code: "failed_precondition" });

    // Holding the same bytes, the attacker uploads them itself (stored once), and only then sees them.
    await attacker.uploadContext(digestOf(secret), secret);
    expect(await attacker.hasContext(digestOf(secret))).toBe(true);
    expect(await victim.hasContext(digestOf(secret))).toBe(true);
    await victim.close();
    await attacker.close();
  });
});

// Images in the cluster end to end on one machine (test/cluster-harness.ts): a control plane
// (PostgreSQL) and two crun nodes, each in its own network namespace, all with --registry pointing
// at a real registry (Debian's docker-registry, HTTPS on the fleet bridge). A build sent to the
// control plane is placed on a node (here pinned by a node selector) and runs there; its image is
// pushed before it is reported committed and recorded in PostgreSQL, so the control plane lists it,
// and a sandbox created from it on the other node (which pulls it by digest) sees the files the
// build wrote; an OCI archive imported through the control plane goes the same way. A layer the
// registry serves with other bytes is refused and the failed pull leaves nothing on the node (no
// sandbox, placement or download), a node cannot record an image for a build it was not given, and
// with the registry down the build fails clearly and no image is recorded. A sandbox a failing test
// made is terminated after it, so one failure does not fail the tests after it.
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { Image, Sandbox, SandboxClient } from "@sbx-sh/sdk";
import { manifestOf, query as fleetQuery, tinyArchive } from "./cluster-content-fixtures.js";
import { Fleet, rejection, waitFor } from "./cluster-harness.js";

// n2 keeps no pulled content that no sandbox stands on: every pull past the first evicts.
const fleet = new Fleet({
  nodes: [
    { name: "n1", labels: { zone: "n1" } },
    { name: "n2", labels: { zone: "n2" }, env: { SBX_CONTENT_CACHE_MB: "0" } },
  ],
  registry: true,
});
let client: SandboxClient;
let ctx = "";
const small = { cpus: 0.25, memoryMb: 128, allowInternetAccess: false };
/** A sandbox on n2 standing on the image "tools" (pulled there), kept across tests. */
let standing: Sandbox | undefined;
/**
 * The sandboxes the tests made and have not terminated: what a failing test leaves is terminated
 * after it (standing only once its next test is done), so the next test starts clean; a sandbox a
 * failed create left behind is in no list here, and the checks of n2's sandboxes still see it.
 */
const live = new Set<Sandbox>();
async function create(spec: Parameters<typeof Sandbox.create>[0]): Promise<Sandbox> {
  const sb = await Sandbox.create(spec, client);
  live.add(sb);
  return sb;
}
async function terminate(sb: Sandbox): Promise<void> {
  await sb.terminate();
  live.delete(sb);
}
const sbx = (args: string[]) => fleet.sbxAsync(args);
/** Which node runs the sandbox, asked of the nodes' own daemons. */
const nodeOf = (id: string): Promise<string> => fleet.nodeOf(id);
const pgQuery = <T extends Record<string, unknown>>(sql: string): Promise<{ rows: T[] }> => fleetQuery<T>(fleet, sql);

/** An image that writes `marker` with a RUN step and copies a file from the build context. */
function markerImage(name: string, marker: string): Image {
  return new Image({ name, baseImage: "debian-minimal" })
    .copy("hello.txt", "/opt/hello.txt")
    .run(`echo ${marker} > /opt/marker`);
}

beforeAll(async () => {
  ctx = await mkdtemp(join(tmpdir(), "sbx-cluster-images-"));
  await writeFile(join(ctx, "hello.txt"), "copied through the control plane\n");
  await fleet.start();
  client = fleet.client();
});

afterEach(async () => {
  for (const sb of live) if (sb !== standing) await terminate(sb);
});

afterAll(async () => {
  await fleet.stop();
  await rm(ctx, { recursive: true, force: true });
});

describe("images in the cluster", () => {
  it("an image built on n1 through the control plane launches on n2 with the files the build wrote", async () => {
    const events: string[] = [];
    const info = await markerImage("tools", "built-on-n1").build({
      client,
      contextDir: ctx,
      nodeSelector: { zone: "n1" },
      onEvent: (e) => events.push(e.type),
    });
    expect(events.at(-1)).toBe("done");
    // It ran on n1 with n1's builder, and n2 never saw the build.
    const n1 = fleet.node("n1").local;
    const n2 = fleet.node("n2").local;
    const built = (await client.listBuilds()).find((b) => b.imageName === "tools")!;
    expect(built.state).toBe("succeeded");
    expect((await n1.listBuilds()).map((b) => b.id)).toContain(built.id);
    expect((await n2.listBuilds()).map((b) => b.id)).not.toContain(built.id);
    expect((await client.getBuild(built.id)).imageId).toBe(info.id);
    // Committed means in the registry and in PostgreSQL: the control plane lists it from there.
    const listed = (await client.listImages()).find((i) => i.name === "tools");
    expect(listed).toMatchObject({ id: info.id, tag: "latest", kind: "built" });
    const { rows } = await pgQuery<{ id: string; manifest: string }>(
      "SELECT id, manifest FROM cluster_content WHERE kind = 'image' AND project = 'default'",
    );
    expect(rows).toHaveLength(1);
    expect((await manifestOf(fleet, rows[0]!.id)).layers.length).toBeGreaterThanOrEqual(2);
    expect((await n2.listImages()).some((i) => i.name === "tools")).toBe(false);

    // Placement prefers the node that holds the image's layers (as its heartbeat reports them).
    const digests = info.layers.map((l) => l.digest);
    await waitFor(
      async () => {
        const { rows: n } = await pgQuery<{ layers: string[] }>("SELECT layers FROM nodes WHERE name = 'n1'");
        return digests.every((d) => n[0]!.layers.includes(d)) || undefined;
      },
      15_000,
      "n1 reports the image's layers",
    );
    const near = await create({ ...small, image: "tools" });
    expect(await nodeOf(near.id)).toBe("n1");
    await terminate(near);

    const sb = await create({ ...small, image: "tools", placement: { nodeSelector: { zone: "n2" } } });
    expect(await nodeOf(sb.id)).toBe("n2");
    expect((await sb.readFile("/opt/marker")).toString()).toBe("built-on-n1\n");
    expect((await sb.readFile("/opt/hello.txt")).toString()).toBe("copied through the control plane\n");
    // n2 pulled it by digest and holds it now under the same id.
    expect((await n2.listImages()).find((i) => i.name === "tools")?.id).toBe(info.id);
    // Left running: the next test checks n2's cache keeps what it stands on.
    standing = sb;

    // Another project has no such image, through the control plane or on the node that built it.
    await client.createProject("other");
    const other = fleet.client("other");
    expect((await other.listImages()).some((i) => i.name === "tools")).toBe(false);
    expect((await rejection(Sandbox.create({ ...small, image: "tools" }, other))).code).toBe("image_not_found");

    // Removed through the control plane: gone from PostgreSQL's list.
    await client.deleteImage("tools");
    expect((await client.listImages()).some((i) => i.name === "tools")).toBe(false);
    // The nodes' copies do not bring it back: PostgreSQL's record is the truth.
    expect((await rejection(Sandbox.create({ ...small, image: "tools" }, client))).code).toBe("image_not_found");
  });

  it("an OCI archive imported through the control plane launches on the other node; n2's pulled images are an LRU cache", async () => {
    // This test ends the one kept from the last, whatever happens here.
    onTestFinished(async () => {
      if (standing && live.has(standing)) await terminate(standing);
    });
    const n2 = fleet.node("n2").local;
    const names = async (): Promise<string[]> =>
      (await n2.listImages())
        .filter((i) => i.kind === "built")
        .map((i) => i.name)
        .sort();
    const importOnN1 = async (name: string): Promise<string> => {
      expect((await sbx(["node", "cordon", "n2"])).code).toBe(0);
      try {
        await client.importImage(await tinyArchive(ctx, name), { name, tag: "v1" });
      } finally {
        expect((await sbx(["node", "ready", "n2"])).code).toBe(0);
      }
      const { rows } = await pgQuery<{ node: string; image_ref: string }>(
        `SELECT node, image_ref FROM cluster_builds WHERE image_name = '${name}'`,
      );
      expect(rows.map((r) => r.node)).toEqual(["n1"]);
      return rows[0]!.image_ref;
    };
    const ref = await importOnN1("imported");
    expect((await client.listImages()).find((i) => i.name === "imported")).toMatchObject({ tag: "v1", kind: "built" });
    // An imported image has no base recipe: its layer is pushed as the base.
    expect((await manifestOf(fleet, ref)).layers).toHaveLength(1);
    const onN2 = { ...small, placement: { nodeSelector: { zone: "n2" } } };
    const sb = await create({ ...onN2, image: "imported:v1" });
    expect(await nodeOf(sb.id)).toBe("n2");
    expect((await sb.readFile("/opt/marker")).toString()).toBe("imported\n");
    // Over budget (0 MB), but a sandbox stands on each: both kept.
    expect(await names()).toEqual(["imported", "tools"]);
    await terminate(sb);
    await terminate(standing!);
    await importOnN1("imported2");
    const next = await create({ ...onN2, image: "imported2:v1" });
    expect((await next.readFile("/opt/marker")).toString()).toBe("imported2\n");
    // Nothing stands on the first two any more: the pull evicted them; the one in use stays.
    expect(await names()).toEqual(["imported2"]);
    await terminate(next);
    // A build on n2 FROM an image n2 no longer holds: n2 pulls its base first.
    await new Image({ name: "derived", baseImage: "imported:v1" })
      .run("cat /opt/marker > /opt/derived")
      .build({ client, nodeSelector: { zone: "n2" } });
    expect(await names()).toContain("derived");
  });

  it("refuses a layer whose bytes do not match its digest, and a node's report of a build it was not given", async () => {
    const info = await markerImage("tampered", "original").build({
      client,
      contextDir: ctx,
      nodeSelector: { zone: "n1" },
    });
    const { rows } = await pgQuery<{ id: string; manifest: string }>(
      "SELECT c.id, c.manifest FROM cluster_content c WHERE c.kind = 'image' AND c.id IN (SELECT image_ref FROM cluster_builds WHERE image_name = 'tampered')",
    );
    const top = (await manifestOf(fleet, rows[0]!.id)).layers.at(-1)!;
    const file = fleet.registry!.blobFile(top.digest);
    const bytes = await readFile(file);
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
    await writeFile(file, bytes);
    const err = await rejection(
      Sandbox.create({ ...small, image: "tampered", placement: { nodeSelector: { zone: "n2" } } }, client),
    );
    expect(err.code).toBe("invalid_archive");
    expect(err.message).toMatch(/does not match/);
    const n2 = fleet.node("n2").local;
    expect((await n2.listImages()).some((i) => i.id === info.id)).toBe(false);
    // The control plane holds no layers: an export through it is refused, not half made.
    expect((await rejection(client.exportImage("tampered"))).code).toBe("unimplemented");
    // The failed pull left nothing: no sandbox, no placement holding n2's room, no download or
    // half-unpacked layer in n2's data dir.
    expect((await n2.list()).length).toBe(0);
    const { rows: placed } = await pgQuery("SELECT sandbox_id FROM placements WHERE node = 'n2'");
    expect(placed).toEqual([]);
    const data = join(fleet.node("n2").daemon.root, "data");
    expect((await readdir(join(data, "tmp"))).filter((f) => f.startsWith("content-"))).toEqual([]);
    expect((await readdir(join(data, "layers"))).filter((f) => f.startsWith(".oci-"))).toEqual([]);

    // A node reports an image for a build placed on the other node, or with an unknown digest: refused.
    const report = (token: string, body: unknown): Promise<Response> =>
      fetch(`${fleet.controlUrl()}/cluster/v1/images`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    const build = (await client.listBuilds()).find((b) => b.imageName === "tampered")!;
    const forged = {
      build: build.id,
      manifest: `sha256:${"0".repeat(64)}`,
      image: {
        ref: "img-forged0000000",
        id: info.id,
        baseImage: "debian-minimal",
        baseId: "x",
        config: { env: [], workingDir: "/", user: "root", entrypoint: null, cmd: null, systemd: false },
        sizeBytes: 1,
        createdAt: new Date().toISOString(),
        layers: [],
      },
    };
    const byN2 = await report(fleet.node("n2").token, forged);
    expect(byN2.status).toBe(404);
    const again = await report(fleet.node("n1").token, forged);
    expect(again.status).toBe(409);
    expect((await report(fleet.node("n1").token, { ...forged, manifest: "sha256:nothex" })).status).toBe(400);
    expect((await report("sbxn_wrong", forged)).status).toBe(401);
    const { rows: forgedRows } = await pgQuery("SELECT 1 FROM cluster_content WHERE id = 'img-forged0000000'");
    expect(forgedRows).toHaveLength(0);
  });

  it("with the registry down, a build fails clearly and no image is recorded", async () => {
    await fleet.registry!.stop();
    const err = await rejection(
      markerImage("unsaved", "never").build({ client, contextDir: ctx, nodeSelector: { zone: "n2" } }),
    );
    expect(err.message).toMatch(/was not committed: the cluster registry .* did not store its layers/);
    const build = (await client.listBuilds()).find((b) => b.imageName === "unsaved")!;
    expect(build.state).toBe("failed");
    expect((await client.listImages()).some((i) => i.name === "unsaved")).toBe(false);
    expect((await fleet.node("n2").local.listImages()).some((i) => i.name === "unsaved")).toBe(false);
  });
});

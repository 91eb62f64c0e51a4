// What a node asks the registry while committing a snapshot: each layer's blob is asked about once
// (HEAD), uploaded only when missing, and a layer this node pushed before is not uploaded again
// while the registry has it, and re-uploaded (asked once, not twice) when the registry lost it.
// The real registry client against a small in-memory stand-in of the distribution API.
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SnapshotRecord } from "../domain/records.js";
import { ContentPublisher } from "./content-publish.js";
import { ClusterRegistry } from "./registry-access.js";

const blobs = new Set<string>();
const requests: string[] = [];
let server: Server;
let dir = "";
let registry: ClusterRegistry;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "sbx-publish-"));
  server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://r");
    const blob = /\/blobs\/(sha256:[0-9a-f]{64})$/.exec(url.pathname)?.[1];
    requests.push(`${req.method} ${blob ?? url.pathname}`);
    req.resume();
    req.on("end", () => {
      if (req.method === "HEAD" && blob) res.writeHead(blobs.has(blob) ? 200 : 404).end();
      else if (req.method === "POST" && url.pathname.endsWith("/blobs/uploads/"))
        res.writeHead(202, { location: "/v2/sbx/content/blobs/uploads/u1" }).end();
      else if (req.method === "PUT" && url.pathname.endsWith("/uploads/u1")) {
        blobs.add(url.searchParams.get("digest")!);
        res.writeHead(201).end();
      } else if (req.method === "PUT" && url.pathname.includes("/manifests/")) res.writeHead(201).end();
      else res.writeHead(404).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  registry = await ClusterRegistry.open({ registry: `127.0.0.1:${(server.address() as { port: number }).port}` });
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  await rm(dir, { recursive: true, force: true });
});

async function layerDir(name: string, text: string): Promise<string> {
  const d = join(dir, name);
  await mkdir(d, { recursive: true });
  await writeFile(join(d, `${name}.txt`), text);
  return d;
}

function snapshot(id: string, base: string, layers: Array<{ key: string; dir: string }>): SnapshotRecord {
  return {
    ...{ id, project: "default", type: "filesystem", status: "in_progress", sourceSandboxId: "sb-1" },
    ...{ sourceImage: "img", sourceImageId: "sha256:" + "0".repeat(64), parentSnapshotId: null, forSuspend: false },
    layers: layers.map((l) => ({ ...l, digest: "", sizeBytes: 1, step: `step ${l.key}`, cached: false })),
    baseDir: base,
    baseImage: "img",
    // Host ids: the layers' owners (this test's files) go into the tars as they are.
    config: { env: [], workingDir: "/", user: "root", systemd: true, entrypoint: null, cmd: null },
    ...{ sizeBytes: 1, error: null, createdAt: "2026-12-06T17:00:00.000Z", completedAt: null },
  } as SnapshotRecord;
}

/** The HEADs and PUTs of blob uploads per digest since `from`. */
function traffic(from: number): { heads: Map<string, number>; puts: number } {
  const heads = new Map<string, number>();
  let puts = 0;
  for (const r of requests.slice(from)) {
    const [method, what] = r.split(" ") as [string, string];
    if (method === "HEAD") heads.set(what, (heads.get(what) ?? 0) + 1);
    if (method === "PUT" && what.endsWith("/uploads/u1")) puts++;
  }
  return { heads, puts };
}

describe("ContentPublisher", () => {
  it("asks about each layer once, uploads only what the registry lacks, and re-uploads what it lost", async () => {
    const publisher = new ContentPublisher({
      registry,
      images: { resolvesToBase: () => false, resolveBase: async () => ({}) as never },
      uidBase: 100000,
      tmpDir: join(dir, "tmp"),
      log: { info: () => undefined } as never,
    });
    const base = await layerDir("base", "base");
    const l1 = { key: "l1", dir: await layerDir("l1", "one") };
    let from = requests.length;
    await publisher.publish(snapshot("snap-1", base, [l1]));
    const first = traffic(from);
    // Base dir, layer and config: each asked about once and sent.
    expect([...first.heads.values()]).toEqual([1, 1, 1]);
    expect(first.puts).toBe(3);

    // The same stack again, one layer more: known layers are asked about once and not sent.
    const l2 = { key: "l2", dir: await layerDir("l2", "two") };
    from = requests.length;
    await publisher.publish(snapshot("snap-2", base, [l1, l2]));
    const second = traffic(from);
    expect([...second.heads.values()].every((n) => n === 1)).toBe(true);
    expect(second.puts).toBe(2); // l2 and the new config

    // The registry lost l1's blob: it is asked about once, found missing and sent again.
    const lost = [...first.heads.keys()][1]!;
    blobs.delete(lost);
    from = requests.length;
    await publisher.publish(snapshot("snap-3", base, [l1, l2]));
    const third = traffic(from);
    expect(third.heads.get(lost)).toBe(1);
    expect([...third.heads.values()].every((n) => n === 1)).toBe(true);
    expect(blobs.has(lost)).toBe(true);
  });
});

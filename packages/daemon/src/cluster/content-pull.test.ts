// pullStack against a registry stand-in on loopback (the real client, unpack and layer store, as
// root): two pieces of content that share their layer, pulled at once, download and unpack it once;
// the second pull stands on the first's layer. A pull whose layer cannot be fetched leaves nothing
// in the node's temp dir or its layers dir.
import { createHash } from "node:crypto";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LayerRecord } from "../domain/records.js";
import { LayerStore } from "../layers/layer-store.js";
import { tarOf } from "../oci/testing/craft.js";
import type { CommittedLayer } from "../layers/layer-store.js";
import { HeldKeys } from "../services/layers-in-use.js";
import type { FetchDeps } from "./content-fetch.js";
import { pullStack } from "./content-pull.js";
import { CONTENT_ANNOTATION } from "./content-registry.js";
import { ClusterRegistry } from "./registry-access.js";

const isRoot = process.getuid?.() === 0;
const sha = (b: Buffer | string): string => `sha256:${createHash("sha256").update(b).digest("hex")}`;

describe.runIf(isRoot)("pulling content that shares a layer", () => {
  const blobs = new Map<string, Buffer>();
  const manifests = new Map<string, Buffer>();
  const gets: string[] = [];
  /** Blobs the stand-in cuts off mid-body, every time. */
  const broken = new Set<string>();
  let server: Server;
  let root: string;
  let deps: FetchDeps;

  /** One gzip layer holding `file`, a config naming its diff id, and a manifest per `names`. */
  function content(file: string, names: string[]): { manifests: string[]; layer: string } {
    const plain = tarOf([{ path: file, data: "x".repeat(300 << 10) }]);
    const gz = gzipSync(plain);
    blobs.set(sha(gz), gz);
    const config = Buffer.from(JSON.stringify({ rootfs: { type: "layers", diff_ids: [sha(plain)] } }));
    blobs.set(sha(config), config);
    const out = names.map((name) => {
      const m = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha(config), size: config.length },
          layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: sha(gz), size: gz.length }],
          annotations: { [CONTENT_ANNOTATION]: name },
        }),
      );
      manifests.set(sha(m), m);
      return sha(m);
    });
    return { manifests: out, layer: sha(gz) };
  }

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "sbx-content-pull-"));
    server = createServer((req, res) => {
      const [, kind, ref] = /^\/v2\/sbx\/content\/(manifests|blobs)\/(sha256:[0-9a-f]{64})$/.exec(req.url ?? "") ?? [];
      const body = kind === "manifests" ? manifests.get(ref!) : blobs.get(ref!);
      if (!body) return res.writeHead(404).end();
      if (kind === "blobs") gets.push(ref!);
      const type = kind === "manifests" ? "application/vnd.oci.image.manifest.v1+json" : "application/octet-stream";
      res.writeHead(200, { "content-type": type, "content-length": String(body.length) });
      if (broken.has(ref!)) res.write(body.subarray(0, body.length >> 1), () => res.socket?.destroy());
      else res.end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const layerRows = new Map<string, LayerRecord>();
    deps = {
      registry: await ClusterRegistry.open({ registry: `127.0.0.1:${(server.address() as AddressInfo).port}` }),
      layers: new LayerStore(join(root, "layers")),
      images: {
        getLayer: async (k: string) => layerRows.get(k),
        putLayer: async (l: LayerRecord) => void layerRows.set(l.key, l),
      } as never,
      bases: { resolveBase: () => Promise.reject(new Error("no base recipe here")) } as never,
      uidBase: 0,
      tmpDir: join(root, "tmp"),
      log: { warn: () => undefined, info: () => undefined } as never,
    } as Partial<FetchDeps> as FetchDeps;
  });
  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    if (root) await rm(root, { recursive: true, force: true });
  });

  const describeAs = () => ({ steps: [], baseRecipe: null, systemd: false });

  it("downloads and unpacks a shared layer once for two pulls at a time", async () => {
    const {
      manifests: [a, b],
      layer,
    } = content("shared", ["a", "b"]);
    const inFlight = new Map<string, Promise<CommittedLayer>>();
    const busy = new HeldKeys();
    const [pa, pb] = await Promise.all([
      pullStack(deps, busy, inFlight, "default", a!, describeAs),
      pullStack(deps, busy, inFlight, "default", b!, describeAs),
    ]);
    expect(gets.filter((g) => g === layer)).toHaveLength(1);
    expect(pa.refs[0]!.dir).toBe(pb.refs[0]!.dir);
    // Only the pull that made the layer counts its bytes (content-fetch.ts's cache entry).
    expect([pa.refs[0]!.cached, pb.refs[0]!.cached].sort()).toEqual([false, true]);
    expect(inFlight.size).toBe(0);
    // Each pull holds the shared layer until its caller's record names it: the first to release
    // leaves the second's hold, so garbage collection still keeps the layer.
    const shared = pa.held[0]!;
    expect(pb.held[0]).toBe(shared);
    busy.release(pa.held);
    expect([...busy.keys()]).toContain(shared);
    busy.release(pb.held);
    expect(busy.size).toBe(0);
  });

  it("fails both pulls of a layer that cannot be fetched, and leaves no download or unpack dir", async () => {
    const {
      manifests: [a, b],
      layer,
    } = content("cut", ["c", "d"]);
    broken.add(layer);
    const inFlight = new Map<string, Promise<CommittedLayer>>();
    const busy = new HeldKeys();
    const results = await Promise.allSettled([
      pullStack(deps, busy, inFlight, "default", a!, describeAs),
      pullStack(deps, busy, inFlight, "default", b!, describeAs),
    ]);
    for (const r of results) expect(r).toMatchObject({ status: "rejected", reason: { code: "upstream_unreachable" } });
    expect(gets.filter((g) => g === layer)).toHaveLength(3);
    expect(await readdir(join(root, "tmp"))).toEqual([]);
    expect((await readdir(join(root, "layers"))).filter((f) => f.startsWith(".oci-"))).toEqual([]);
    expect(busy.size).toBe(0);
    expect(inFlight.size).toBe(0);
  });
});

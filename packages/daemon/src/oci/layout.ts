// The OCI image layout and its JSON documents: media types, descriptors, and reading a layout
// directory (or an unpacked `docker save` archive) into a checked plan of what to import: the
// config and, per layer, the blob file with the digest and size it must have.
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { lstat, readFile } from "node:fs/promises";
import { join } from "node:path";
import { SbxError } from "@sbx-sh/protocol";

export const MEDIA = {
  index: "application/vnd.oci.image.index.v1+json",
  manifest: "application/vnd.oci.image.manifest.v1+json",
  config: "application/vnd.oci.image.config.v1+json",
  layer: "application/vnd.oci.image.layer.v1.tar",
  layerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
  dockerLayerGzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
} as const;

export const MANIFEST_TYPES: readonly string[] = [MEDIA.manifest, MEDIA.dockerManifest];
export const INDEX_TYPES: readonly string[] = [MEDIA.index, MEDIA.dockerList];
const CONFIG_TYPES: readonly string[] = [MEDIA.config, MEDIA.dockerConfig];
const LAYER_TYPES: Record<string, "tar" | "gzip"> = {
  [MEDIA.layer]: "tar",
  [MEDIA.layerGzip]: "gzip",
  [MEDIA.dockerLayerGzip]: "gzip",
  "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip": "gzip",
  "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip": "gzip",
};

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { architecture?: string; os?: string };
}

export interface ManifestJson {
  schemaVersion: 2;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
}

export interface ImageConfigJson {
  created?: string;
  architecture: string;
  os: string;
  config?: { Env?: string[]; WorkingDir?: string; User?: string; Entrypoint?: string[] | null; Cmd?: string[] | null };
  rootfs: { type: "layers"; diff_ids: string[] };
  history?: Array<Record<string, unknown>>;
}

/** What an import needs: the config and each layer's file with what it must hash to. */
export interface ImportPlan {
  config: ImageConfigJson;
  configDigest: string;
  layers: Array<{
    path: string;
    digest: string | null;
    size: number | null;
    compression: "tar" | "gzip" | "detect";
    diffId: string;
  }>;
  format: "oci" | "docker-archive";
}

export function ociArch(): string {
  return (
    ({ x64: "amd64", arm64: "arm64", arm: "arm", ppc64: "ppc64le", s390x: "s390x" } as Record<string, string>)[
      process.arch
    ] ?? process.arch
  );
}

const DIGEST = /^sha256:[0-9a-f]{64}$/;

export function checkDigest(d: unknown, what: string): string {
  if (typeof d !== "string" || !DIGEST.test(d))
    throw new SbxError(
      "invalid_archive",
      `${what} has digest ${JSON.stringify(d)}: sbx reads sha256:<64 hex> digests only`,
    );
  return d;
}

export function invalid(message: string, details?: Record<string, unknown>): SbxError {
  return new SbxError("invalid_archive", message, details);
}

/** sha256 of bytes, as a digest. */
export function sha256(data: Buffer | string): string {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

export async function fileDigest(path: string): Promise<{ digest: string; size: number }> {
  const h = createHash("sha256");
  let size = 0;
  for await (const c of createReadStream(path)) {
    h.update(c as Buffer);
    size += (c as Buffer).length;
  }
  return { digest: `sha256:${h.digest("hex")}`, size };
}

/** Where a blob lives in a layout; the digest is checked first, as it often comes from a manifest or a registry. */
export function blobPath(dir: string, digest: string): string {
  return join(dir, "blobs", "sha256", checkDigest(digest, "a blob").slice(7));
}

/** A small JSON blob, checked against its descriptor (size and digest) before it is parsed. */
export async function readJsonBlob<T>(dir: string, desc: Descriptor, what: string): Promise<T> {
  const digest = checkDigest(desc.digest, what);
  const path = blobPath(dir, digest);
  const st = await lstat(path).catch(() => undefined);
  if (!st?.isFile())
    throw invalid(`${what} ${digest} is missing from the layout (no blobs/sha256/${digest.slice(7)})`, {
      blob: digest,
    });
  if (st.size !== desc.size)
    throw invalid(`${what} ${digest} has ${st.size} bytes, its descriptor says ${desc.size}`, { blob: digest });
  if (st.size > 8 << 20) throw invalid(`${what} ${digest} is larger than 8 MiB`);
  const data = await readFile(path);
  if (sha256(data) !== digest)
    throw invalid(`${what} ${digest} does not match its digest (corrupt blob)`, { blob: digest });
  return parseJson<T>(data, `${what} ${digest}`);
}

function parseJson<T>(data: Buffer | string, what: string): T {
  try {
    return JSON.parse(data.toString()) as T;
  } catch {
    throw invalid(`${what} is not valid JSON`);
  }
}

/** Picks the image for this machine from an index (following nested indexes). */
async function pickManifest(
  dir: string,
  index: { manifests?: Descriptor[] },
  ref: string | undefined,
  depth = 0,
): Promise<Descriptor> {
  if (depth > 4) throw invalid("the layout's indexes nest too deeply");
  const all = Array.isArray(index.manifests) ? index.manifests : [];
  if (!all.length) throw invalid("the layout's index lists no manifests");
  const named = ref ? all.filter((m) => m.annotations?.["org.opencontainers.image.ref.name"] === ref) : all;
  if (ref && !named.length) throw invalid(`the layout has no image named ${JSON.stringify(ref)}`);
  const fits = named.filter((m) => !m.platform || (m.platform.os === "linux" && m.platform.architecture === ociArch()));
  const chosen = fits[0];
  if (!chosen) throw invalid(`the layout has no image for linux/${ociArch()}`);
  if (INDEX_TYPES.includes(chosen.mediaType))
    return pickManifest(dir, await readJsonBlob(dir, chosen, "index"), undefined, depth + 1);
  if (!MANIFEST_TYPES.includes(chosen.mediaType))
    throw invalid(`unsupported manifest media type ${JSON.stringify(chosen.mediaType)}`);
  return chosen;
}

/** Checks manifest and config of an image and lists its layers; layer blobs are verified while unpacked. */
export async function planFromManifest(dir: string, manifestDesc: Descriptor): Promise<ImportPlan> {
  const manifest = await readJsonBlob<ManifestJson>(dir, manifestDesc, "manifest");
  if (manifest.schemaVersion !== 2 || !manifest.config || !Array.isArray(manifest.layers))
    throw invalid(`manifest ${manifestDesc.digest} is not an image manifest (schemaVersion 2 with config and layers)`);
  if (manifest.mediaType && !MANIFEST_TYPES.includes(manifest.mediaType))
    throw invalid(`unsupported manifest media type ${JSON.stringify(manifest.mediaType)}`);
  if (!CONFIG_TYPES.includes(manifest.config.mediaType))
    throw invalid(
      `unsupported config media type ${JSON.stringify(manifest.config.mediaType)}: sbx imports container images`,
    );
  const config = await readJsonBlob<ImageConfigJson>(dir, manifest.config, "config");
  const diffIds = config.rootfs?.diff_ids;
  if (!Array.isArray(diffIds) || diffIds.length !== manifest.layers.length)
    throw invalid(
      `config ${manifest.config.digest} lists ${diffIds?.length ?? 0} diff_ids for ${manifest.layers.length} layers`,
    );
  if (config.os && config.os !== "linux") throw invalid(`the image is for ${config.os}, not linux`);
  const layers = manifest.layers.map((l, i) => {
    const digest = checkDigest(l.digest, `layer ${i + 1}`);
    const compression = LAYER_TYPES[l.mediaType];
    if (!compression)
      throw invalid(
        `layer ${digest} has unsupported media type ${JSON.stringify(l.mediaType)}: sbx reads tar and tar+gzip layers`,
        { blob: digest },
      );
    if (!Number.isSafeInteger(l.size) || l.size < 0) throw invalid(`layer ${digest} has a bad size`);
    return {
      path: blobPath(dir, digest),
      digest,
      size: l.size,
      compression,
      diffId: checkDigest(diffIds[i], `diff_id ${i + 1}`),
    };
  });
  return { config, configDigest: manifest.config.digest, layers, format: "oci" };
}

/** An unpacked OCI layout or `docker save` archive, checked down to the layer list. */
export async function readLayout(dir: string, ref?: string): Promise<ImportPlan> {
  const layoutFile = await readFile(join(dir, "oci-layout"), "utf8").catch(() => undefined);
  if (layoutFile !== undefined) {
    const v = parseJson<{ imageLayoutVersion?: string }>(layoutFile, "oci-layout").imageLayoutVersion;
    if (v !== "1.0.0") throw invalid(`unsupported OCI layout version ${JSON.stringify(v)}`);
    const index = parseJson<{ manifests?: Descriptor[] }>(
      await readFile(join(dir, "index.json")).catch(() => Buffer.from("")),
      "index.json",
    );
    return planFromManifest(dir, await pickManifest(dir, index, ref));
  }
  const docker = await readFile(join(dir, "manifest.json"), "utf8").catch(() => undefined);
  if (docker === undefined)
    throw invalid("not an OCI image layout (no oci-layout file) nor a docker-archive (no manifest.json)");
  return planDockerArchive(dir, docker);
}

async function planDockerArchive(dir: string, text: string): Promise<ImportPlan> {
  const list = parseJson<Array<{ Config?: string; Layers?: string[] }>>(text, "manifest.json");
  const m = Array.isArray(list) ? list[0] : undefined;
  if (!m || typeof m.Config !== "string" || !Array.isArray(m.Layers))
    throw invalid("manifest.json of the docker-archive lists no image");
  const inside = (p: string): string => {
    if (typeof p !== "string" || p.startsWith("/") || p.split("/").includes(".."))
      throw invalid(`docker-archive path ${JSON.stringify(p)} leaves the archive`);
    return join(dir, p);
  };
  const configData = await readFile(inside(m.Config)).catch(() => {
    throw invalid(`docker-archive config ${m.Config} is missing`);
  });
  const config = parseJson<ImageConfigJson>(configData, `config ${m.Config}`);
  const diffIds = config.rootfs?.diff_ids ?? [];
  if (diffIds.length !== m.Layers.length)
    throw invalid(`config lists ${diffIds.length} diff_ids for ${m.Layers.length} layers`);
  const layers = m.Layers.map((p, i) => ({
    path: inside(p),
    digest: null,
    size: null,
    compression: "detect" as const,
    diffId: checkDigest(diffIds[i], `diff_id ${i + 1}`),
  }));
  return { config, configDigest: sha256(configData), layers, format: "docker-archive" };
}

// The SDK side of OCI images: export as a layout tar stream, import from one, push to and pull
// from registries (the daemon does the transfer; credentials travel in the request body).
import type { RegistryCredentials, ImageInfo } from "@sbx-sh/protocol";
import type { Readable } from "node:stream";
import { apiPath, SbxError } from "@sbx-sh/protocol";
import { ndjson } from "./ndjson.js";
import type { Body, Transport } from "./transport.js";

export type { RegistryCredentials };

export interface PushResult {
  reference: string;
  digest: string;
  blobsSent: number;
  blobsSkipped: number;
}

export interface PullResult {
  image: ImageInfo;
  layersFetched: number;
  layersReused: number;
}

/** The image (`name[:tag]` or a base image) as an OCI image layout tar. */
export function exportImage(t: Transport, name: string, signal?: AbortSignal): Promise<Body> {
  return t.stream("GET", apiPath("imageOci", { name }), { signal });
}

/** Registers an OCI image layout tar (or `docker save` tar) as `name[:tag]`. */
export function importImage(
  t: Transport,
  tar: Readable | Uint8Array,
  o: { name: string; tag?: string; replace?: boolean; signal?: AbortSignal },
): Promise<ImageInfo> {
  return t.json("POST", apiPath("imagesImport"), {
    query: { name: o.name, tag: o.tag, replace: o.replace ? "1" : undefined },
    body: tar,
    contentType: "application/x-tar",
    signal: o.signal,
    stream: true,
  });
}

/** How far a push or pull is: bytes and layers done (blobs already there count as done) of the totals. */
export interface RegistryProgress {
  bytes: number;
  total: number;
  layers: number;
  layersTotal: number;
}

export interface ProgressOptions {
  /** Called as the daemon reports progress (a few times a second at most). */
  onProgress?: (p: RegistryProgress) => void;
}

export async function pushImage(
  t: Transport,
  name: string,
  reference: string,
  creds: RegistryCredentials = {},
  o: ProgressOptions = {},
): Promise<PushResult> {
  const path = apiPath("imagePush", { name });
  const json = { reference, ...creds };
  if (!o.onProgress) return t.json("POST", path, { json, stream: true });
  return withProgress<PushResult>(await t.stream("POST", path, { json, query: { progress: "1" } }), o.onProgress);
}

export async function pullImage(
  t: Transport,
  reference: string,
  o: RegistryCredentials & { name?: string; tag?: string; replace?: boolean } & ProgressOptions = {},
): Promise<PullResult> {
  const { onProgress, ...rest } = o;
  const json = { reference, ...rest };
  if (!onProgress) return t.json("POST", apiPath("imagesPull"), { json, stream: true });
  return withProgress<PullResult>(
    await t.stream("POST", apiPath("imagesPull"), { json, query: { progress: "1" } }),
    onProgress,
  );
}

/** Reads a `?progress=1` answer: progress events to `onProgress`, then the result (an error line throws). */
async function withProgress<T>(body: Body, onProgress: (p: RegistryProgress) => void): Promise<T> {
  for await (const v of ndjson(body)) {
    const e = v as { event?: string; result?: T } & RegistryProgress;
    if (e.event === "progress")
      onProgress({ bytes: e.bytes, total: e.total, layers: e.layers, layersTotal: e.layersTotal });
    else if (e.event === "result") return e.result as T;
  }
  throw new SbxError("internal", "sbxd ended the transfer's progress stream without a result");
}

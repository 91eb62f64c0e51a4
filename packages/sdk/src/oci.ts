// The SDK side of OCI images: export as a layout tar stream, import from one, push to and pull
// from registries (the daemon does the transfer; credentials travel in the request body).
import type { RegistryCredentials, ImageInfo } from "@sbx-sh/protocol";
import type { Readable } from "node:stream";
import { apiPath } from "@sbx-sh/protocol";
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

export function pushImage(
  t: Transport,
  name: string,
  reference: string,
  creds: RegistryCredentials = {},
): Promise<PushResult> {
  return t.json("POST", apiPath("imagePush", { name }), { json: { reference, ...creds }, stream: true });
}

export function pullImage(
  t: Transport,
  reference: string,
  o: RegistryCredentials & { name?: string; tag?: string; replace?: boolean } = {},
): Promise<PullResult> {
  return t.json("POST", apiPath("imagesPull"), { json: { reference, ...o }, stream: true });
}

// A node's report to its control plane that an image it built for a placed build is committed (its
// stack in the cluster registry): POST /cluster/v1/images with the node's token, naming the build,
// the manifest digest and the image. The control plane records it in its store (PostgreSQL) under
// the project and name it placed the build with; only then does the node register the image and
// report the build succeeded. A refusal or an unreachable control plane fails the build.
import { SbxError, isErrorCode } from "@sbx-sh/protocol";
import type { ImageRecord } from "../domain/records.js";

export const REPORT_IMAGE_PATH = "/cluster/v1/images";

/** What a node sends: the image as it built it (the control plane checks every field). */
export interface ImageReport {
  build: string;
  manifest: string;
  image: Pick<ImageRecord, "ref" | "id" | "baseImage" | "baseId" | "config" | "sizeBytes" | "createdAt"> & {
    layers: Array<{ digest: string; sizeBytes: number; step: string }>;
  };
}

export function imageReport(build: string, manifest: string, img: ImageRecord): ImageReport {
  return {
    build,
    manifest,
    image: {
      ref: img.ref,
      id: img.id,
      baseImage: img.baseImage,
      baseId: img.baseId,
      config: img.config,
      sizeBytes: img.sizeBytes,
      createdAt: img.createdAt,
      layers: img.layers.map((l) => ({ digest: l.digest, sizeBytes: l.sizeBytes, step: l.step })),
    },
  };
}

export async function reportImage(control: string, token: string, report: ImageReport): Promise<void> {
  let res: Response;
  try {
    res = await fetch(new URL(REPORT_IMAGE_PATH, control), {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify(report),
      signal: AbortSignal.timeout(30_000),
    });
  } catch (err) {
    throw new SbxError(
      "upstream_unreachable",
      `the control plane ${control} could not be told the image is committed (${(err as Error).message}): nothing was registered`,
    );
  }
  if (res.ok) {
    await res.body?.cancel();
    return;
  }
  const text = (await res.text()).slice(0, 2000);
  let e: { code?: unknown; message?: unknown } = {};
  try {
    e = (JSON.parse(text) as { error?: typeof e }).error ?? {};
  } catch {
    // Not the control plane's error shape: said as it came, below.
  }
  const code = isErrorCode(e.code) ? e.code : "upstream_unreachable";
  throw new SbxError(
    code,
    `the control plane refused to record the image: ${typeof e.message === "string" ? e.message : `${res.status} ${text}`}`,
  );
}

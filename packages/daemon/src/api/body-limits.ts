// Request body caps, enforced while the body is read (from content-length at once when declared):
// JSON bodies are small by nature; raw uploads (files, archives, stdin, build contexts) get the
// upload cap, image imports a bigger one. Beyond a cap the answer is 413 payload_too_large.
import { Readable } from "node:stream";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { SbxError } from "@sbx-sh/protocol";
import { MAX_UPLOAD_BYTES } from "../services/file-service.js";
import { uploadSlots } from "./project-slots.js";

export const MAX_JSON_BYTES = 1024 * 1024;
/** An imported image streams to disk, where a full disk is the real bound. */
export const MAX_IMPORT_BYTES = 64 * 1024 ** 3;
const RAW_BODY_PATH =
  /^\/v1\/(contexts\/[^/]+|sandboxes\/[^/]+\/(files|archive|processes\/[^/]+\/stdin))$|^\/api\/v1\/(files|processes\/[^/]+\/stdin)$/;
const IMPORT_PATH = /^\/v1\/images\/import$/;

const mib = (n: number): string => `${n / 1024 / 1024} MiB`;

export function bodyLimits(): MiddlewareHandler {
  // JSON is parsed whole anyway, so hono's limiter (which buffers the body as it counts) is fine here.
  const json = bodyLimit({
    maxSize: MAX_JSON_BYTES,
    onError: () => {
      throw new SbxError(
        "payload_too_large",
        `request bodies are limited to ${mib(MAX_JSON_BYTES)}: put big data in a file (PUT /v1/sandboxes/{id}/files) or a build context`,
      );
    },
  });
  const raw = countingLimit(
    MAX_UPLOAD_BYTES,
    () => new SbxError("payload_too_large", `uploads are limited to ${mib(MAX_UPLOAD_BYTES)}: split the upload`),
  );
  const imports = countingLimit(
    MAX_IMPORT_BYTES,
    () => new SbxError("payload_too_large", `image archives are limited to ${MAX_IMPORT_BYTES / 1024 ** 3} GiB`),
  );
  const slots = uploadSlots();
  return (c, next) => {
    const limit = IMPORT_PATH.test(c.req.path) ? imports : RAW_BODY_PATH.test(c.req.path) ? raw : undefined;
    if (!limit) {
      // Judged from the head when it can be (as hono's limiter would): asking for the body turns
      // the HTTP server's lightweight request into a full one, a cost a forwarded call need not pay.
      const declared = declaredLength(c.req.raw.headers);
      if (c.req.method === "GET" || c.req.method === "HEAD" || (declared !== undefined && declared <= MAX_JSON_BYTES))
        return next();
      return json(c, next);
    }
    // Uploads are counted per project while their body streams (only for methods that carry one).
    return c.req.raw.body ? slots(c, async () => void (await limit(c, next))) : limit(c, next);
  };
}

/** The body's declared length (content-length without transfer-encoding), else undefined. */
export function declaredLength(headers: Headers): number | undefined {
  const declared = headers.get("content-length");
  if (declared === null || headers.has("transfer-encoding") || !/^\d{1,15}$/.test(declared)) return undefined;
  return Number(declared);
}

/**
 * Counts a streamed body as its reader consumes it, without holding it: the reader gets the error
 * (and the client a 413) once the count passes `maxSize`.
 */
function countingLimit(maxSize: number, tooBig: () => SbxError): MiddlewareHandler {
  return async (c, next) => {
    const body = c.req.raw.body;
    if (!body) return next();
    const declared = c.req.raw.headers.get("content-length");
    if (declared !== null && !c.req.raw.headers.has("transfer-encoding")) {
      if (Number.parseInt(declared, 10) > maxSize) throw tooBig();
      return next();
    }
    let size = 0;
    const counted = body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, ctl) {
          size += chunk.byteLength;
          if (size > maxSize) ctl.error(tooBig());
          else ctl.enqueue(chunk);
        },
      }),
    );
    c.req.raw = new Request(c.req.raw, { body: counted, duplex: "half" } as RequestInit);
    return next();
  };
}

/**
 * A raw request body as a Node stream, for services that stream it on (file writes, archive
 * uploads): read as it arrives, still counted by the limit above, which fails the stream (and so
 * whatever consumes it) with payload_too_large once the count passes the cap.
 */
export function bodyStream(req: Request): Readable {
  return req.body ? Readable.fromWeb(req.body as WebReadableStream<Uint8Array>) : Readable.from([]);
}

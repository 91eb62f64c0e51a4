// Request body caps, enforced while the body is read (from content-length at once when declared):
// JSON bodies are small by nature; raw uploads (files, archives, stdin, build contexts) get the
// upload cap. Beyond a cap the answer is 413 payload_too_large and the body is not kept.
import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { SbxError } from "../common/errors.js";
import { MAX_UPLOAD_BYTES } from "../services/file-service.js";

export const MAX_JSON_BYTES = 1024 * 1024;
const RAW_BODY_PATH = /^\/v1\/(contexts\/[^/]+|sandboxes\/[^/]+\/(files|archive|processes\/[^/]+\/stdin))$/;

const mib = (n: number): string => `${n / 1024 / 1024} MiB`;

export function bodyLimits(): MiddlewareHandler {
  const json = bodyLimit({
    maxSize: MAX_JSON_BYTES,
    onError: () => {
      throw new SbxError("payload_too_large", `request bodies are limited to ${mib(MAX_JSON_BYTES)}: put big data in a file (PUT /v1/sandboxes/{id}/files) or a build context`);
    },
  });
  const raw = bodyLimit({
    maxSize: MAX_UPLOAD_BYTES,
    onError: () => {
      throw new SbxError("payload_too_large", `uploads are limited to ${mib(MAX_UPLOAD_BYTES)}: split the upload`);
    },
  });
  return (c, next) => (RAW_BODY_PATH.test(c.req.path) ? raw : json)(c, next);
}

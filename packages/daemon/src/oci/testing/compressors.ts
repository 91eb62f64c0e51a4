// The gzip compressors an export may use, for tests that must hold for each: sbx-deflate as
// `npm run build` makes it (runtime/deflate-helper.ts) and zlib in the daemon (no program).
import { fileURLToPath } from "node:url";
import { DeflateHelper } from "../../runtime/deflate-helper.js";
import type { GzipProgram } from "../program-gzip.js";

export const DEFLATE_BIN = fileURLToPath(new URL("../../../deflate/bin/sbx-deflate", import.meta.url));

/** The helper as the daemon would find it (its id only matters for blob keys). */
export const DEFLATE = new DeflateHelper(DEFLATE_BIN, "sbx-deflate (test)");

export const COMPRESSORS: [string, GzipProgram | undefined][] = [
  ["sbx-deflate", DEFLATE],
  ["zlib", undefined],
];

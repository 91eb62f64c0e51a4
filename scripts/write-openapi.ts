// Writes openapi.json at the repo root from the API's own schemas (`npm run openapi`). The app is
// built on stub services: generating the document never calls them, and every stub throws if it is.
import { realpathSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createApp } from "../packages/daemon/src/api/app.js";
import { VERSION } from "@sbx-sh/protocol";
import type { Services } from "../packages/daemon/src/services/services.js";

export const OPENAPI_PATH = join(dirname(fileURLToPath(import.meta.url)), "..", "openapi.json");

/** A stand-in whose every member throws: generating the document must only read route declarations. */
function unused<T extends object>(what: string): T {
  return new Proxy({} as T, {
    get(_target, prop) {
      if (prop === "then") return undefined;
      return () => {
        throw new Error(`${what}.${String(prop)} was called while generating openapi.json`);
      };
    },
  });
}

function stubServices(): Services {
  return {
    version: VERSION,
    log: { info: () => undefined, warn: () => undefined, error: () => undefined },
    projects: unused("projects"),
    sandboxes: unused("sandboxes"),
    processes: unused("processes"),
    terminals: unused("terminals"),
    files: unused("files"),
    images: unused("images"),
    builds: unused("builds"),
    gc: unused("gc"),
    snapshots: unused("snapshots"),
    ports: unused("ports"),
    proxy: null,
    oci: unused("oci"),
    contexts: unused("contexts"),
    pools: unused("pools"),
    templateBuilds: unused("templateBuilds"),
    bus: unused("bus"),
    stats: unused("stats"),
    info: () => {
      throw new Error("info was called while generating openapi.json");
    },
  };
}

/** The OpenAPI document as the daemon serves it at GET /openapi.json. */
export async function generateOpenApi(): Promise<unknown> {
  const app = createApp(stubServices(), "unix");
  const res = await app.request("/openapi.json");
  if (res.status !== 200) throw new Error(`GET /openapi.json answered ${res.status}: ${await res.text()}`);
  return res.json();
}

/** The exact bytes of openapi.json: 2-space JSON with a trailing newline. */
export async function renderOpenApi(): Promise<string> {
  return JSON.stringify(await generateOpenApi(), null, 2) + "\n";
}

function isMain(): boolean {
  try {
    return !!process.argv[1] && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  writeFileSync(OPENAPI_PATH, await renderOpenApi());
  console.log(`wrote ${OPENAPI_PATH}`);
}

// Writes openapi.json at the repo root from the API's own schemas (`npm run openapi`). The app is
// built on stub services: generating the document never calls them, and every stub throws if it is.
import { realpathSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createApp } from "../src/api/app.js";
import { VERSION } from "../src/daemon/version.js";
import type { FileService } from "../src/services/file-service.js";
import type { ImageService } from "../src/services/images.js";
import type { ProcessService } from "../src/services/process-service.js";
import type { ProjectService } from "../src/services/project-service.js";
import type { SandboxService } from "../src/services/sandbox-service.js";
import type { Services } from "../src/services/services.js";

export const OPENAPI_PATH = join(dirname(fileURLToPath(import.meta.url)), "..", "openapi.json");

/** Every public member of T; the services are classes with private fields, so a literal can only match this. */
type Members<T> = { [K in keyof T]: T[K] };

const unused =
  (what: string) =>
  (): never => {
    throw new Error(`${what} was called while generating openapi.json: the generator must only read route declarations`);
  };

function stub<T>(members: Members<T>): T {
  return members as T;
}

function stubServices(): Services {
  return {
    version: VERSION,
    log: { info: () => undefined, warn: () => undefined, error: () => undefined },
    projects: stub<ProjectService>({
      list: unused("projects.list"),
      create: unused("projects.create"),
      require: unused("projects.require"),
      createToken: unused("projects.createToken"),
      authenticate: unused("projects.authenticate"),
    }),
    sandboxes: stub<SandboxService>({
      onEnded: unused("sandboxes.onEnded"),
      usePool: unused("sandboxes.usePool"),
      create: unused("sandboxes.create"),
      list: unused("sandboxes.list"),
      get: unused("sandboxes.get"),
      getRunning: unused("sandboxes.getRunning"),
      terminate: unused("sandboxes.terminate"),
      reconcile: unused("sandboxes.reconcile"),
      close: unused("sandboxes.close"),
    }),
    processes: stub<ProcessService>({
      start: unused("processes.start"),
      list: unused("processes.list"),
      get: unused("processes.get"),
      signal: unused("processes.signal"),
      writeStdin: unused("processes.writeStdin"),
      closeStdin: unused("processes.closeStdin"),
      output: unused("processes.output"),
      adoptRunning: unused("processes.adoptRunning"),
      close: unused("processes.close"),
    }),
    files: stub<FileService>({
      read: unused("files.read"),
      write: unused("files.write"),
      list: unused("files.list"),
      remove: unused("files.remove"),
      upload: unused("files.upload"),
      download: unused("files.download"),
    }),
    images: stub<ImageService>({
      defaultImage: "debian-minimal",
      resolve: unused("images.resolve"),
      list: unused("images.list"),
    }),
    info: unused("info"),
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

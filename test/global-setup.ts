// One real daemon for the whole end-to-end run (tests that restart or kill a daemon start their
// own). Building or unpacking the base image happens once here, not in every test file.
import type { TestProject } from "vitest/node";
import { SandboxClient } from "@sbx-sh/sdk";
import { TestDaemon } from "./harness.js";

declare module "vitest" {
  export interface ProvidedContext {
    sbxHost: string;
  }
}

let daemon: TestDaemon | undefined;

export async function setup(project: TestProject): Promise<void> {
  daemon = new TestDaemon({ name: "shared", netIndex: 0 });
  await daemon.reset();
  await daemon.start();
  // Warm the default base image so the first test does not pay for it.
  const client = new SandboxClient({ host: daemon.host });
  const sb = await client.create({ allowInternetAccess: false, timeoutSecs: 60 });
  await client.terminate(sb.id);
  project.provide("sbxHost", daemon.host);
}

export async function teardown(): Promise<void> {
  if (!daemon) return;
  const client = new SandboxClient({ host: daemon.host });
  for (const s of await client.list().catch(() => [])) await client.terminate(s.id).catch(() => undefined);
  await daemon.stop();
}

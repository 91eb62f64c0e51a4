// Per-file fixtures for end-to-end tests: a client for the shared daemon, and sandboxes that are
// terminated when the file's tests are done, whatever happened.
import { afterAll, beforeAll, inject } from "vitest";
import { Sandbox, SandboxClient, type CreateSandboxOptions } from "@sbx-sh/sdk";

export function sharedClient(): SandboxClient {
  return new SandboxClient({ host: inject("sbxHost") });
}

/** A creator of sandboxes (no network unless asked) that terminates all of them after the file. */
export function useSandboxes(
  client: SandboxClient = sharedClient(),
): (opts?: CreateSandboxOptions) => Promise<Sandbox> {
  const created: Sandbox[] = [];
  afterAll(async () => {
    for (const sb of created) await sb.terminate().catch(() => undefined);
  });
  return async (opts = {}) => {
    const sb = await Sandbox.create({ allowInternetAccess: false, ...opts }, client);
    created.push(sb);
    return sb;
  };
}

/** One sandbox for all tests of a file; call the returned function inside tests. */
export function useSandbox(opts: CreateSandboxOptions = {}): () => Sandbox {
  const create = useSandboxes();
  let sb: Sandbox | undefined;
  beforeAll(async () => {
    sb = await create(opts);
  });
  return () => sb!;
}

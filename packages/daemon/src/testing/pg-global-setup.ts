// Vitest global setup of the unit project: one throwaway PostgreSQL for the whole run (about a
// second to start), shared by every test file through inject("pgUrl"); each test isolates itself
// in its own schema (pg-test.ts). Without the postgresql package the run still starts, and the
// PostgreSQL tests fail with the reason instead of passing unseen.
import type { TestProject } from "vitest/node";
import { startPgCluster, type PgCluster } from "./pg-cluster.js";

declare module "vitest" {
  export interface ProvidedContext {
    /** The test cluster's URL, or "" when it could not start (then pgError says why). */
    pgUrl: string;
    pgError: string;
  }
}

let cluster: PgCluster | undefined;

export async function setup(project: TestProject): Promise<void> {
  try {
    cluster = await startPgCluster();
    project.provide("pgUrl", cluster.url);
    project.provide("pgError", "");
  } catch (err) {
    project.provide("pgUrl", "");
    project.provide("pgError", err instanceof Error ? err.message : String(err));
  }
}

export async function teardown(): Promise<void> {
  await cluster?.stop();
}

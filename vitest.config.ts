import { defineConfig } from "vitest/config";

// Unit tests sit beside the code (packages/*/src/**/*.test.ts). End-to-end tests (test/**) start the
// real daemon on a private socket and data dir and drive real crun sandboxes; they run one file at
// a time because they share the host's cgroups, mounts and network.
// Packages resolve each other to their TypeScript sources (the "sbx-source" export condition), and
// the daemons and CLIs the tests start run from source too (tsx), never from a possibly stale dist/.
process.env.SBX_FROM_SOURCE = "1";
const SOURCE = "--conditions=sbx-source";
if (!(process.env.NODE_OPTIONS ?? "").includes(SOURCE))
  process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ""} ${SOURCE}`.trim();
const conditions = ["sbx-source", "node", "import", "default"];

export default defineConfig({
  resolve: { conditions },
  // No "import" among the server-side conditions (Vite adds it to import statements itself): named
  // here, it also reached CommonJS require() calls, and pg's require("pg-pool") got the ESM build.
  ssr: { resolve: { conditions: ["sbx-source", "node", "default"], externalConditions: conditions } },
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: "unit",
          include: ["packages/*/src/**/*.test.ts"],
          // Unit tests first, then end-to-end ones: the e2e files (some bound latency relative to
          // idle) then run on a machine that nothing else in the run is loading.
          sequence: { groupOrder: 0 },
          environment: "node",
          // One throwaway PostgreSQL for the run (the PostgreSQL store and placement tests).
          globalSetup: ["packages/daemon/src/testing/pg-global-setup.ts"],
        },
      },
      {
        extends: true,
        test: {
          name: "e2e",
          include: ["test/**/*.test.ts"],
          sequence: { groupOrder: 1 },
          environment: "node",
          globalSetup: ["test/global-setup.ts"],
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});

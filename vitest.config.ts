import { defineConfig } from "vitest/config";

// Unit tests sit beside the code (src/**/*.test.ts). End-to-end tests (test/**) start the real
// daemon on a private socket and data dir and drive real crun sandboxes; they run one file at a
// time because they share the host's cgroups, mounts and network.
// Daemons and CLIs the tests start run from src/ (via tsx), never from a possibly stale dist/.
process.env.SBX_FROM_SOURCE = "1";

export default defineConfig({
  test: {
    projects: [
      { test: { name: "unit", include: ["src/**/*.test.ts"], environment: "node" } },
      {
        test: {
          name: "e2e",
          include: ["test/**/*.test.ts"],
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

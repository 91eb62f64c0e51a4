// Lint rules, and the architecture's boundaries as rules (run in CI by scripts/test.sh):
// - the protocol and the SDK never reach daemon code, server libraries or native modules (nor do
//   the clients' tests, but for the daemon's test harness);
// - the CLI talks to the daemon only through the SDK (it may find and spawn sbxd, never import it);
// - inside the daemon nothing below api/ imports api/, and only the adapters that run tools
//   (runtime/, layers/, oci/, the base-image builder) spawn host commands;
// - process.env is read in one configuration module per package.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

const TESTS = ["**/*.test.ts", "**/testing/**", "**/*.conformance.ts"];

/** Modules only the daemon may load: servers, schema validation, logging, SQLite, terminals. */
const SERVER_ONLY = [
  "hono",
  "hono/*",
  "@hono/*",
  "zod",
  "zod/*",
  "pino",
  "better-sqlite3",
  "node-pty",
  "@sbx-sh/daemon",
];
const restrict = (message, group) => ({ group, message });

/** A relative import that leaves the package (`../../daemon/src/...`) instead of naming it. */
const OUT_OF_PACKAGE = ["../../*", "../../../*"];

/** Reading process.env is configuration: it has one home per package. */
const NO_ENV = {
  selector: "MemberExpression[object.name='process'][property.name='env']",
  message: "read configuration in the package's config module (daemon: config.ts; SDK: config.ts; CLI: config.ts)",
};

/** Inside the daemon, below api/: no HTTP, and no way back up to the wire layer. */
const BELOW_API = [
  restrict("nothing below api/ imports api/: services speak domain records, api/ maps them to the wire", [
    "**/api/*",
    "hono",
    "hono/*",
    "@hono/*",
  ]),
  restrict("the daemon's code stays in its package", OUT_OF_PACKAGE),
];
const HOST = "only runtime/ and the tool adapters (layers/, oci/, build/base-*) run host commands";
const NO_SPAWN = { name: "node:child_process", message: HOST };
const NO_COMMAND = restrict(HOST, ["**/common/command.js", "./common/command.js"]);
/** The adapters that run host tools, and the one module that runs commands for them. */
const TOOL_ADAPTERS = [
  "packages/daemon/src/runtime/**",
  "packages/daemon/src/layers/**",
  "packages/daemon/src/oci/**",
  "packages/daemon/src/build/base-*.ts",
  "packages/daemon/src/common/command.ts",
];

export default tseslint.config(
  { ignores: ["**/dist/**", "node_modules/**", "**/bin/**", ".tmp/**", "bench/results/**", "test/tensorlake/.sdk/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      // One import of a module per file (a type-only import beside it is fine).
      "no-duplicate-imports": ["error", { allowSeparateTypeImports: true }],
    },
  },
  {
    files: ["packages/protocol/src/**/*.ts"],
    ignores: TESTS,
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            restrict("the protocol has no dependencies: plain types and small pure helpers only", [
              ...SERVER_ONLY,
              "@sbx-sh/*",
              "tar",
              "ws",
              ...OUT_OF_PACKAGE,
            ]),
          ],
        },
      ],
      "no-restricted-syntax": ["error", NO_ENV],
    },
  },
  {
    files: ["packages/sdk/src/**/*.ts"],
    ignores: TESTS,
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            restrict("the SDK is installed in users' projects: pure JS, no daemon code, no native modules", [
              ...SERVER_ONLY,
              "@sbx-sh/cli",
              ...OUT_OF_PACKAGE,
            ]),
          ],
        },
      ],
    },
  },
  {
    // The clients' tests too: they reach the daemon through its API, served by the daemon's test
    // harness (testing/test-daemon.ts), and may make test certificates for it (testing/test-certs.ts):
    // the two daemon modules they may load.
    files: TESTS.map((t) => `packages/{protocol,sdk,cli}/src/${t}`),
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              regex: "^(\\.\\./)+daemon/(?!src/testing/test-(daemon|certs)\\.js$)|^@sbx-sh/daemon(/|$)",
              message: "a client's tests use the daemon through its API (testing/test-daemon.ts), never its code",
            },
          ],
        },
      ],
    },
  },
  {
    files: ["packages/sdk/src/**/*.ts"],
    ignores: [...TESTS, "packages/sdk/src/config.ts"],
    rules: { "no-restricted-syntax": ["error", NO_ENV] },
  },
  {
    files: ["packages/cli/src/**/*.ts"],
    ignores: TESTS,
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            restrict("the CLI is a client of the SDK: it may spawn sbxd, never import daemon code", [
              ...SERVER_ONLY,
              ...OUT_OF_PACKAGE,
            ]),
          ],
        },
      ],
    },
  },
  {
    files: ["packages/cli/src/**/*.ts"],
    ignores: [...TESTS, "packages/cli/src/config.ts"],
    rules: { "no-restricted-syntax": ["error", NO_ENV] },
  },
  {
    files: ["packages/daemon/src/**/*.ts"],
    ignores: [...TESTS, "packages/daemon/src/config.ts"],
    rules: { "no-restricted-syntax": ["error", NO_ENV] },
  },
  {
    // Everything in the daemon below the HTTP adapter.
    files: ["packages/daemon/src/*/**/*.ts"],
    ignores: [...TESTS, "packages/daemon/src/api/**"],
    rules: { "no-restricted-imports": ["error", { patterns: BELOW_API }] },
  },
  {
    // Use cases, domain, metadata, the cluster and the rest below api/ never touch the host: no
    // processes, no host commands; only the tool adapters do.
    files: ["packages/daemon/src/*/**/*.ts"],
    ignores: [...TESTS, ...TOOL_ADAPTERS, "packages/daemon/src/api/**"],
    rules: { "no-restricted-imports": ["error", { paths: [NO_SPAWN], patterns: [...BELOW_API, NO_COMMAND] }] },
  },
  {
    // The composition root (daemon.ts, wiring.ts, main.ts, ...) runs nothing on the host itself either.
    files: ["packages/daemon/src/*.ts"],
    ignores: TESTS,
    rules: { "no-restricted-imports": ["error", { paths: [NO_SPAWN], patterns: [NO_COMMAND] }] },
  },
  {
    files: ["packages/daemon/src/api/**/*.ts"],
    ignores: TESTS,
    rules: { "no-restricted-imports": ["error", { paths: [NO_SPAWN], patterns: [NO_COMMAND] }] },
  },
);

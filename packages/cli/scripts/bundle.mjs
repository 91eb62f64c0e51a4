// Bundles the CLI into dist/bundle/ (esbuild): one module for the commands every call needs and
// chunks for what only some commands load (jiti for image files, ws for terminals), so a fresh
// `sbx` process parses a fraction of what loading dist/ module by module costs. bin/sbx.js runs
// the bundle when it is there.
import { build } from "esbuild";
import { rmSync } from "node:fs";
import { fileURLToPath, URL } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const outdir = `${root}dist/bundle`;
rmSync(outdir, { recursive: true, force: true });
await build({
  entryPoints: [`${root}src/main.ts`],
  outdir,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  // The workspace packages' TypeScript sources: one compile, no stale dist/ of a sibling package.
  conditions: ["sbx-source"],
  // Native addons, and packages that load files of their own at run time (jiti), stay outside.
  external: ["node-pty", "better-sqlite3", "@sbx-sh/daemon", "jiti"],
  // Some bundled CommonJS dependencies call require() for node built-ins.
  banner: {
    js: "import { createRequire as __sbxRequire } from 'node:module'; const require = __sbxRequire(import.meta.url);",
  },
  legalComments: "none",
  logLevel: "warning",
});

// Bundles the CLI into dist/bundle/ (esbuild): main.cjs, one CommonJS file the launcher runs with a
// V8 code cache, and the same as ES modules split into chunks per command group (a fallback), so a
// fresh `sbx` process parses a fraction of what loading dist/ module by module costs. bin/sbx.js
// runs the bundle when it is there.
import { build } from "esbuild";
import { rmSync } from "node:fs";
import { fileURLToPath, URL } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const outdir = `${root}dist/bundle`;
rmSync(outdir, { recursive: true, force: true });
const common = {
  entryPoints: [`${root}src/main.ts`],
  bundle: true,
  platform: "node",
  target: "node20",
  // The workspace packages' TypeScript sources: one compile, no stale dist/ of a sibling package.
  conditions: ["sbx-source"],
  // Native addons, and packages that load files of their own at run time (jiti), stay outside.
  external: ["node-pty", "better-sqlite3", "@sbx-sh/daemon", "jiti"],
  legalComments: "none",
  logLevel: "warning",
};
// The same CLI as one CommonJS file, which bin/sbx.js compiles with a V8 code cache it keeps
// (Node 20 has no compile cache for modules): one file to read and little to compile, where the
// ESM chunks below cost a loader round per file. import.meta becomes the file's own URL, which
// names the same folder as the chunks'.
await build({
  ...common,
  outfile: `${outdir}/main.cjs`,
  format: "cjs",
  define: { "import.meta.url": "__sbxFileUrl", "import.meta.resolve": "__sbxResolve" },
  banner: {
    js: "const __sbxFileUrl = require('node:url').pathToFileURL(__filename).href; const __sbxResolve = (s) => require('node:url').pathToFileURL(require.resolve(s)).href;",
  },
});
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

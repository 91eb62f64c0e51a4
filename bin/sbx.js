#!/usr/bin/env node
// Launcher for the sbx CLI: the compiled build when present, else the TypeScript sources via tsx.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const built = fileURLToPath(new URL("../dist/cli/main.js", import.meta.url));
let mod;
// SBX_FROM_SOURCE=1 (the test suite sets it) never runs a dist/ that may be older than src/.
if (existsSync(built) && process.env.SBX_FROM_SOURCE !== "1") {
  mod = await import(new URL("../dist/cli/main.js", import.meta.url).href);
} else {
  const { register } = await import("tsx/esm/api");
  register();
  mod = await import(new URL("../src/cli/main.ts", import.meta.url).href);
}
process.exitCode = await mod.main(process.argv.slice(2));
// Safety net: if a stray handle (a socket, stdin) would keep us alive, leave anyway. Unref'd, so
// it never delays a normal exit.
setTimeout(() => process.exit(), 2000).unref();

#!/usr/bin/env node
// Launcher for the sbx CLI: runs the bundled build (dist/bundle, one file to parse: a fresh process
// starts fast), else the compiled modules. In a checkout, SBX_FROM_SOURCE=1 (the test suite sets
// it) runs the TypeScript sources through tsx instead, never a dist/ older than src/.
// Node 22.1+ can keep V8's compiled code of the CLI on disk between runs (NODE_DISABLE_COMPILE_CACHE=1
// turns it off); Node 20 has no such cache, and the call is skipped there.
const nodeModule = await import("node:module");
nodeModule.enableCompileCache?.();
if (process.env.SBX_FROM_SOURCE === "1") {
  const { register } = await import("tsx/esm/api");
  register();
  var mod = await import(new URL("../src/main.ts", import.meta.url).href);
} else {
  var mod = await import(new URL("../dist/bundle/main.js", import.meta.url).href).catch((err) => {
    if (err?.code !== "ERR_MODULE_NOT_FOUND" || !String(err.message).includes("dist/bundle/main.js")) throw err;
    return import(new URL("../dist/main.js", import.meta.url).href);
  });
}
process.exitCode = await mod.main(process.argv.slice(2));
// Safety net: if a stray handle (a socket, stdin) would keep us alive, leave anyway. Unref'd, so
// it never delays a normal exit.
setTimeout(() => process.exit(), 2000).unref();

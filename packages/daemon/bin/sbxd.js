#!/usr/bin/env node
// Launcher for sbxd, the sbx daemon: runs the compiled build. In a checkout, SBX_FROM_SOURCE=1 (the
// test suite sets it) runs the TypeScript sources through tsx instead, never a dist/ older than src/.
if (process.env.SBX_FROM_SOURCE === "1") {
  const { register } = await import("tsx/esm/api");
  register();
  await import(new URL("../src/main.ts", import.meta.url).href);
} else {
  await import(new URL("../dist/main.js", import.meta.url).href);
}

#!/usr/bin/env node
// Launcher for the sbx daemon: the compiled build when present, else the TypeScript sources via tsx.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const built = fileURLToPath(new URL("../dist/daemon/main.js", import.meta.url));
// SBX_FROM_SOURCE=1 (the test suite sets it) never runs a dist/ that may be older than src/.
if (existsSync(built) && process.env.SBX_FROM_SOURCE !== "1") {
  await import(built);
} else {
  const { register } = await import("tsx/esm/api");
  register();
  await import(new URL("../src/daemon/main.ts", import.meta.url).href);
}

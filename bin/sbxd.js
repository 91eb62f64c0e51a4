#!/usr/bin/env node
// Launcher for the sbx daemon: the compiled build when present, else the TypeScript sources via tsx.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const built = fileURLToPath(new URL("../dist/daemon/main.js", import.meta.url));
if (existsSync(built)) {
  await import(built);
} else {
  const { register } = await import("tsx/esm/api");
  register();
  await import(new URL("../src/daemon/main.ts", import.meta.url).href);
}

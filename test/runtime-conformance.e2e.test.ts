// The runtime contract (packages/daemon/src/runtime/runtime.conformance.ts) held against CrunRuntime
// on this host: root, real crun, the default base image, the runtime made as sbxd makes it
// (./runtime-host.ts), with no daemon.
import { newId } from "@sbx-sh/protocol";
import { runtimeConformance } from "../packages/daemon/src/runtime/runtime.conformance.js";
import { hostRuntimeForTest } from "./runtime-host.js";

runtimeConformance("CrunRuntime", async () => {
  const { runtime, lowers, close } = await hostRuntimeForTest("runtime-conformance", 5);
  return { runtime, lowers, newId: () => newId("sb"), close };
});

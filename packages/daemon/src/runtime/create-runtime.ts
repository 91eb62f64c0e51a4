// The composition root's one way to a SandboxRuntime: the backend `sbxd --runtime` names, built
// from the host facts the daemon gathered. A second backend is one more case here.
import { CrunRuntime, type CrunRuntimeOptions } from "./crun-runtime.js";
import type { RuntimeName, SandboxRuntime } from "./runtime.js";

export function createRuntime(name: RuntimeName, crun: CrunRuntimeOptions): SandboxRuntime {
  switch (name) {
    case "crun":
      return new CrunRuntime(crun);
    default: {
      const unknown: never = name;
      throw new Error(`unknown runtime ${String(unknown)}`);
    }
  }
}

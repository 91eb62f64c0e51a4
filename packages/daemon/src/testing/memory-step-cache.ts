// The step cache a builder unit test runs on: layer rows and step pointers in memory, with the
// semantics of ImageOps.getStepLayer and pointStep (the stores' conformance suite checks theirs).
import type { BuilderDeps } from "../build/builder.js";
import type { LayerRecord } from "../domain/records.js";

export function memoryStepCache(rows = new Map<string, LayerRecord>()): BuilderDeps["cache"] {
  const pointers = new Map<string, string>();
  return {
    getStepLayer: async (k) => rows.get(pointers.get(k) ?? k),
    putLayer: async (l) => void rows.set(l.key, l),
    pointStep: async (step, layer) => void (step === layer ? pointers.delete(step) : pointers.set(step, layer)),
  };
}

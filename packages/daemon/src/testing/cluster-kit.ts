// Shared by the cluster's unit tests and the placement bench: a node report with given capacity
// and layers, and a fake layer digest.
import type { NodeReport } from "../cluster/node-registry.js";

export const digest = (n: number): string => `sha256:${n.toString(16).padStart(64, "0")}`;

export function report(cpus: number, memoryMb: number, layers: string[] = [], address = "10.0.0.1:7070"): NodeReport {
  return {
    address,
    capacity: { cpus, memoryMb, diskMb: 100_000 },
    usage: { cpus: 0, memoryMb: 0, diskMb: 0, sandboxes: 0 },
    layers,
  };
}

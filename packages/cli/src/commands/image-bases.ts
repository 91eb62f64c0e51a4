// `sbx image ls` rows for base images that are not built yet: built on first use, or not buildable
// on this host (a missing archive keyring), with the reason, so nobody picks a base that will fail.
import type { BaseImageState } from "@sbx-sh/protocol";

/** Table rows (NAME, TAG, ID, KIND, SIZE, CREATED) and notes for the bases that are not ready. */
export function unbuiltBaseRows(bases: BaseImageState[]): { rows: string[][]; notes: string[] } {
  const waiting = bases.filter((b) => b.state !== "ready");
  return {
    rows: waiting.map((b) => [
      b.name,
      "-",
      "-",
      b.state === "buildable" ? "base (built on first use)" : "base (not buildable here)",
      "-",
      "-",
    ]),
    notes: waiting
      .filter((b) => b.state === "unavailable")
      .map((b) => `${b.name} cannot be built on this host: ${b.reason ?? "unknown reason"}`),
  };
}

// Calls a control plane must not serve from its own local daemon: it runs no sandboxes, so pools
// (which would start sandboxes on the control host), volumes, events, stats, prune and copies
// (which would make sandboxes the cluster never placed) have no cluster meaning yet. They are
// refused with `unimplemented` instead of acting on the control host. Images, builds, contexts
// and snapshots are not refused here: they are being made cluster-aware on their own.
import { SbxError } from "@sbx-sh/protocol";

const SBX_REFUSED: Array<[RegExp, string]> = [
  [/^\/v1\/pools(\/|$)/, "warm pools"],
  [/^\/v1\/volumes(\/|$)/, "volumes"],
  [/^\/v1\/events$/, "the event stream"],
  [/^\/v1\/stats$/, "project stats"],
  [/^\/v1\/sandboxes\/prune$/, "pruning sandboxes"],
  [/^\/v1\/sandboxes\/[^/]+\/copy$/, "copying a sandbox"],
];

/** Tensorlake-compatible paths, flat or under /v1/namespaces/{ns}. */
const TL_REFUSED: Array<[RegExp, string]> = [
  [/^\/sandbox-pools(\/|$)/, "sandbox pools"],
  [/^\/archived-sandboxes(\/|$)/, "archived sandboxes"],
  [/^\/sandboxes\/[^/]+\/copy$/, "copying a sandbox"],
];

function refusal(what: string): SbxError {
  return new SbxError(
    "unimplemented",
    `${what}: not available on a cluster control plane yet (it would act on the control host, not on the nodes)`,
  );
}

/** The refusal of an sbx API call on a control plane, or null when it is served (or routed). */
export function controlPlaneRefusal(path: string): SbxError | null {
  const hit = SBX_REFUSED.find(([re]) => re.test(path));
  return hit ? refusal(hit[1]) : null;
}

/** The same for a Tensorlake-compatible path without its /v1/namespaces/{ns} prefix. */
export function controlPlaneTlRefusal(flatPath: string): SbxError | null {
  const hit = TL_REFUSED.find(([re]) => re.test(flatPath));
  return hit ? refusal(hit[1]) : null;
}

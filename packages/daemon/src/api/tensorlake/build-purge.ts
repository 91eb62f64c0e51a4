// Which prepared Tensorlake template builds the daemon stops holding in memory. The SDK prepares a
// build, then may never come back: its builder sandbox never starts `tl-rootfs-build` (so a build
// that needs the context never starts), or it never calls complete for a build that finished. Each
// such build would hold its plan and its whole build log until the daemon stops. A timer drops them
// by age, and by count so that a client preparing builds in a loop cannot grow the map without end.
// A running build is kept while its builder relays it (the build service bounds it); one that no
// builder ever attached to (it starts at prepare when it needs no context) is cancelled at the same
// age. What a dropped build answers afterwards comes from the store (template-builds.ts), so
// complete keeps working for a finished one.

export interface PurgeLimits {
  /** How long an unstarted build waits for `tl-rootfs-build`, and a finished one for complete. */
  maxAgeMs: number;
  /** Builds held at most (running ones count but are never dropped). */
  maxCount: number;
  /** How often the timer looks. */
  everyMs: number;
}

export const PURGE_LIMITS: PurgeLimits = { maxAgeMs: 15 * 60_000, maxCount: 64, everyMs: 60_000 };

/** What the purge needs to know of a held build. */
export interface HeldBuild {
  id: string;
  preparedAt: number;
  started: boolean;
  /** A builder sandbox started `tl-rootfs-build` for it (it relays the build's log). */
  attached?: boolean;
  /** When its image was registered or its failure recorded; undefined while it runs. */
  settledAt?: number;
}

export interface Purge {
  id: string;
  /** Set for a build that never finished (not started, or running with no builder): it is failed with this reason. */
  reason?: string;
}

/** The builds to drop at `now`, oldest first. */
export function toPurge(held: HeldBuild[], now: number, limits: PurgeLimits): Purge[] {
  const idle = held
    .filter((b) => !b.started || b.settledAt !== undefined)
    .map((b) => ({ b, since: b.settledAt ?? b.preparedAt }))
    .sort((x, y) => x.since - y.since);
  const out: Purge[] = [];
  const purge = (b: HeldBuild, why: string) =>
    out.push(b.settledAt !== undefined ? { id: b.id } : { id: b.id, reason: `abandoned: ${why}` });
  const minutes = Math.round(limits.maxAgeMs / 60_000);
  // Running, but no builder ever asked for it: the SDK gave up before starting tl-rootfs-build.
  for (const b of held)
    if (b.started && !b.attached && b.settledAt === undefined && now - b.preparedAt > limits.maxAgeMs)
      purge(b, `no builder sandbox started tl-rootfs-build within ${minutes} min of prepare: build cancelled`);
  let left = held.length - out.length;
  for (const { b, since } of idle) {
    if (now - since > limits.maxAgeMs)
      purge(b, `tl-rootfs-build was not started in its builder sandbox within ${minutes} min of prepare`);
    else if (left > limits.maxCount)
      purge(b, `more than ${limits.maxCount} template builds were waiting; the oldest are dropped`);
    else continue;
    left--;
  }
  return out;
}

// Which daemon runs an in-progress build. Every build records its daemon's id (`owner`); at start,
// and on control plane replicas every few seconds, a daemon fails the builds in progress whose owner
// is gone, since nobody will ever finish them. One daemon on its own store owns every build, so at
// its start every build in progress is a dead daemon's. Control replicas sharing one PostgreSQL hold
// leases there (cluster/replica-lease.ts): a replica fails only builds whose owner's lease ran out,
// never a live replica's.
export interface BuildOwner {
  /** This daemon's id, recorded on every build it starts. */
  readonly id: string;
  /** Whether the daemon a build recorded (undefined: one from before owners were recorded) is gone. */
  isGone(owner: string | undefined): Promise<boolean>;
}

/** One daemon on its own store: checked at start only, when every build in progress is a dead daemon's. */
export const SOLE_OWNER: BuildOwner = { id: "local", isGone: async () => true };

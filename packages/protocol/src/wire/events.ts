// The daemon's event stream on the wire (`GET /v1/events`, server-sent events): what happened to
// sandboxes, processes, builds, snapshots, images and the warm pool, per project, in order, each
// with an id a reconnecting client sends back as `Last-Event-ID` to resume where it stopped.

export const EVENT_TYPES = [
  "sandbox.created",
  "sandbox.running",
  "sandbox.suspended",
  "sandbox.resumed",
  "sandbox.terminated",
  "process.started",
  "process.exited",
  "build.started",
  "build.step",
  "build.finished",
  "snapshot.taken",
  "image.registered",
  "image.removed",
  "pool.claimed",
  "pool.refilled",
  /** A base image this project waits on is being built: attributes base, phase, step, total. */
  "base.progress",
  /** Not an event of the project's objects: the history no longer reached back to the client's `Last-Event-ID`. */
  "events.lost",
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

/** Scalar facts about the subject (a reason, an exit code, an image name): never nested, never markup. */
export type EventAttributes = Record<string, string | number | boolean | null>;

export interface SbxEvent {
  /** Increases by one per event on this daemon (across projects); resets when the daemon restarts. */
  id: number;
  time: string;
  type: EventType;
  project: string;
  /** The id of what the event is about (a sandbox, process, build, snapshot or image id). */
  subject: string;
  /** The sandbox the subject belongs to, when it belongs to one (processes, snapshots). */
  sandboxId: string | null;
  attributes: EventAttributes;
}

/** `--filter type=sandbox` matches every `sandbox.*` type; `type=sandbox.created` only that one. */
export function eventTypeMatches(type: string, filters: readonly string[]): boolean {
  return filters.length === 0 || filters.some((f) => type === f || type.startsWith(`${f}.`));
}

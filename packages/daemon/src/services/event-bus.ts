// The daemon's one event bus: services publish what happened (a sandbox started, a build step
// ended) and whoever follows (the SSE route, the metrics) subscribes. Publishing is synchronous
// and never waits for a subscriber. History is a bounded ring, so a client that reconnects with
// `Last-Event-ID` gets what it missed if it is still there (or an `events.lost` marker if not).
// Each subscriber has a bounded queue: one that does not keep up is dropped, not the daemon.
import { eventTypeMatches, type EventAttributes, type EventType, type SbxEvent } from "@sbx-sh/protocol";

export interface NewEvent {
  type: EventType;
  project: string;
  subject: string;
  sandboxId?: string | null;
  attributes?: EventAttributes;
}

export interface EventFilter {
  /** Only this project's events; null for every project (the metrics). */
  project: string | null;
  /** Type names or prefixes (`sandbox` = every `sandbox.*`); empty for all. */
  types?: readonly string[];
  /** Only events about this sandbox (as subject or owner). */
  sandboxId?: string;
  /** Resume after this event id (the client's Last-Event-ID). */
  after?: number;
}

export interface EventBusOptions {
  /** Events kept for resuming clients. */
  historySize?: number;
  /** Events a subscriber may have waiting before it is dropped. */
  subscriberBuffer?: number;
}

export class EventBus {
  private readonly history: SbxEvent[] = [];
  private readonly subscribers = new Set<EventSubscription>();
  private readonly listeners: Array<(e: SbxEvent) => void> = [];
  private lastId = 0;
  private droppedSubscribers = 0;
  readonly historySize: number;
  readonly subscriberBuffer: number;

  constructor(opts: EventBusOptions = {}) {
    this.historySize = opts.historySize ?? 10_000;
    this.subscriberBuffer = opts.subscriberBuffer ?? 1024;
  }

  publish(e: NewEvent): SbxEvent {
    const event: SbxEvent = {
      id: ++this.lastId,
      time: new Date().toISOString(),
      type: e.type,
      project: e.project,
      subject: e.subject,
      sandboxId: e.sandboxId ?? null,
      attributes: e.attributes ?? {},
    };
    this.history.push(event);
    if (this.history.length > this.historySize) this.history.splice(0, this.history.length - this.historySize);
    for (const listener of this.listeners) listener(event);
    for (const s of this.subscribers) if (matches(event, s.filter)) s.push(event);
    return event;
  }

  /** A synchronous listener for every event of every project (metrics): it must not throw or block. */
  onEvent(listener: (e: SbxEvent) => void): void {
    this.listeners.push(listener);
  }

  /** Events matching `filter` from now on, after the retained ones newer than `filter.after`. */
  subscribe(filter: EventFilter): EventSubscription {
    const sub = new EventSubscription(filter, this.subscriberBuffer, (s, overflowed) => {
      this.subscribers.delete(s);
      if (overflowed) this.droppedSubscribers++;
    });
    const after = filter.after;
    if (after !== undefined && after < this.lastId) {
      const oldest = this.history[0]?.id ?? this.lastId + 1;
      if (after + 1 < oldest)
        sub.replay([this.lost(filter.project ?? "", `events ${after + 1}..${oldest - 1} are no longer kept`)]);
      sub.replay(this.history.filter((e) => e.id > after && matches(e, filter)));
    } else if (after !== undefined && after > this.lastId) {
      // An id from before a daemon restart: everything since is unknown.
      sub.replay([this.lost(filter.project ?? "", "the daemon restarted since that event")]);
      sub.replay(this.history.filter((e) => matches(e, filter)));
    }
    this.subscribers.add(sub);
    return sub;
  }

  get stats(): { published: number; subscribers: number; droppedSubscribers: number; retained: number } {
    return {
      published: this.lastId,
      subscribers: this.subscribers.size,
      droppedSubscribers: this.droppedSubscribers,
      retained: this.history.length,
    };
  }

  private lost(project: string, reason: string): SbxEvent {
    return {
      id: this.lastId,
      time: new Date().toISOString(),
      type: "events.lost",
      project,
      subject: "",
      sandboxId: null,
      attributes: { reason },
    };
  }
}

function matches(e: SbxEvent, f: EventFilter): boolean {
  if (f.project !== null && e.project !== f.project) return false;
  if (f.sandboxId !== undefined && e.sandboxId !== f.sandboxId && e.subject !== f.sandboxId) return false;
  return eventTypeMatches(e.type, f.types ?? []);
}

/**
 * One follower's queue. Iterating ends when it is closed, or after it overflowed (`overflowed` says so).
 * The replayed history is not counted against the limit: it is bounded by the history size already,
 * and counting it dropped every client that resumed from far back on a busy daemon before it read
 * a single event (it then reconnected and was dropped again, forever).
 */
export class EventSubscription implements AsyncIterable<SbxEvent> {
  private queue: SbxEvent[] = [];
  /** Replayed events still at the head of the queue. */
  private replayed = 0;
  private waiter: (() => void) | undefined;
  private closed = false;
  overflowed = false;

  constructor(
    readonly filter: EventFilter,
    private readonly limit: number,
    private readonly onClose: (s: EventSubscription, overflowed: boolean) => void,
  ) {}

  /** Retained events for a resuming client, queued before any live one. */
  replay(events: SbxEvent[]): void {
    if (this.closed || events.length === 0) return;
    for (const e of events) this.queue.push(e);
    this.replayed += events.length;
    this.wake();
  }

  push(e: SbxEvent): void {
    if (this.closed) return;
    if (this.queue.length - this.replayed >= this.limit) {
      this.overflowed = true;
      this.queue = [];
      this.replayed = 0;
      this.close();
      return;
    }
    this.queue.push(e);
    this.wake();
  }

  /**
   * Up to `max` events already queued, taken at once (none if there are none): the SSE stream sends
   * what was published in the same tick (a create's `sandbox.created` and `pool.claimed`) in one write.
   */
  take(max: number): SbxEvent[] {
    const n = Math.min(max, this.queue.length);
    if (n <= 0) return [];
    this.replayed = Math.max(0, this.replayed - n);
    return this.queue.splice(0, n);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose(this, this.overflowed);
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<SbxEvent> {
    try {
      for (;;) {
        const next = this.queue.shift();
        if (next) {
          if (this.replayed > 0) this.replayed--;
          yield next;
          continue;
        }
        if (this.closed) return;
        await new Promise<void>((r) => (this.waiter = r));
      }
    } finally {
      this.close();
    }
  }
}

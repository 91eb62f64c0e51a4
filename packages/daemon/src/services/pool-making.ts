// The blanks a warm pool (./warm-pool.ts) is making right now, by target and kind (image id, with or
// without a network): the pool counts them as on their way, and a create that finds no blank of its
// kind ready may wait for one already under way (one waiter per blank) instead of starting a cold
// create that would only compete with it for the host.

interface Making {
  target: string;
  imageId: string;
  network: boolean;
  waited: boolean;
  done: Promise<void>;
}

export class BlanksInMaking {
  private readonly list: Making[] = [];

  get size(): number {
    return this.list.length;
  }

  /** Creates waiting for a blank being made right now. */
  get waiters(): number {
    return this.list.filter((m) => m.waited).length;
  }

  /** Blanks of this target and kind being made. */
  count(target: string, imageId: string, network: boolean): number {
    return this.list.filter((m) => m.target === target && m.imageId === imageId && m.network === network).length;
  }

  /**
   * Records a blank being made; the returned function ends that (call it once the blank is in the
   * pool's ready list, or its create failed), which resumes its waiter.
   */
  start(target: string, imageId: string, network: boolean): () => void {
    let resolve = (): void => undefined;
    const entry: Making = { target, imageId, network, waited: false, done: new Promise<void>((r) => (resolve = r)) };
    this.list.push(entry);
    return () => {
      const i = this.list.indexOf(entry);
      if (i >= 0) this.list.splice(i, 1);
      resolve();
    };
  }

  /** The end of the earliest blank of this kind being made that nobody waits for yet (now the caller's), if any. */
  waitFor(imageId: string, network: boolean): Promise<void> | undefined {
    const m = this.list.find((x) => x.imageId === imageId && x.network === network && !x.waited);
    if (!m) return undefined;
    m.waited = true;
    return m.done;
  }
}

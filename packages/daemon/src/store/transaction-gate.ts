// The lock that keeps a SQLite transaction to itself. One connection serves every caller, and a
// transaction's callback awaits between its statements: any plain call run meanwhile would run
// inside the transaction (seeing its uncommitted rows, and rolled back with it). So while a
// transaction is open or queued, plain calls and other transactions wait their turn, in order;
// when none is, a plain call runs at once, which keeps the common case as cheap as a direct call.
import { AsyncLocalStorage } from "node:async_hooks";

export class TransactionGate {
  /** Settles when the last queued exclusive run has ended. */
  private tail: Promise<void> = Promise.resolve();
  /** Exclusive runs open or queued. */
  private pending = 0;
  /** Marks the async context of an open transaction, to catch calls from inside it that would wait forever. */
  private readonly inside = new AsyncLocalStorage<{ open: boolean }>();

  /** A plain call: now when nothing is open or queued, else after what is. */
  call<R>(fn: () => R): Promise<R> {
    if (this.pending === 0) {
      try {
        return Promise.resolve(fn());
      } catch (err) {
        return Promise.reject(err as Error);
      }
    }
    return this.exclusive(async () => fn());
  }

  /** Runs `fn` alone: nothing else passes the gate until it settles. */
  exclusive<R>(fn: () => Promise<R>): Promise<R> {
    if (this.inside.getStore()?.open)
      return Promise.reject(
        new Error("store call inside a transaction: use the transaction's tx (the store waits for the transaction)"),
      );
    const ahead = this.tail;
    let done!: () => void;
    this.tail = new Promise<void>((resolve) => (done = resolve));
    this.pending++;
    const mark = { open: true };
    return ahead
      .then(() => this.inside.run(mark, fn))
      .finally(() => {
        mark.open = false;
        this.pending--;
        done();
      });
  }
}

// Placer.releaseProvisional, over a stand-in pool (the SQL itself is placement.test.ts's, on real
// PostgreSQL): a release that fails while the database is down is retried until it goes through,
// then no more; the caller is never failed by it; stop() ends the retries.
import type { Pool } from "pg";
import { afterEach, describe, expect, it, vi } from "vitest";
import { Placer } from "./placement.js";

/** A pool whose queries fail while `down`, recording the sandbox ids they were asked to release. */
function pool(): { pool: Pool; down: boolean; released: string[] } {
  const p = {
    down: true,
    released: [] as string[],
    pool: {
      query: (_sql: string, params: string[]) => {
        if (p.down) return Promise.reject(new Error("Connection terminated unexpectedly"));
        p.released.push(params[0]!);
        return Promise.resolve({ rowCount: 1 });
      },
    } as unknown as Pool,
  };
  return p;
}

afterEach(() => vi.useRealTimers());

describe("releasing a provisional placement", () => {
  it("retries a failed release until the database answers, then stops", async () => {
    vi.useFakeTimers();
    const db = pool();
    const placer = new Placer(db.pool);
    await expect(placer.releaseProvisional("pending-a")).resolves.toBeUndefined();
    await vi.advanceTimersByTimeAsync(5_000);
    expect(db.released).toEqual([]);
    db.down = false;
    await vi.advanceTimersByTimeAsync(2_000);
    expect(db.released).toEqual(["pending-a"]);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(db.released).toEqual(["pending-a"]);
  });

  it("stops retrying once stopped", async () => {
    vi.useFakeTimers();
    const db = pool();
    const placer = new Placer(db.pool);
    await placer.releaseProvisional("pending-b");
    placer.stop();
    db.down = false;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(db.released).toEqual([]);
  });
});

// Strays: sandboxes a node reports that the control plane does not know at all (no placement, no
// given-up row, no move in flight), such as a create whose answer the control plane lost after the
// node made it. Nobody can reach one, so without this it would run until its own timeout (up to 7
// days). A stray is told to be destroyed (in the lease answer, as given-up ones are) once it has been
// reported unknown for longer than a lease, and never while a create on that node is in flight: a
// create is placed under a provisional id (`pending-…`) until the node answers and the placement takes
// the sandbox's own id (sandbox-directory.ts confirm), so a sandbox the node made a moment ago may be
// reported before its placement carries its id. The placement check and the in-flight check are one
// statement (one snapshot), so a confirm is seen either as its pending row or as the placement.
// First sightings are kept in memory, per control replica: a replica that restarts starts counting
// again, which only delays a destroy.
import type { Pool } from "pg";

export class Strays {
  /** node → stray id → when this replica first saw it reported unknown (ms, monotonic). */
  private readonly seen = new Map<string, Map<string, number>>();

  constructor(
    private readonly pool: Pool,
    private readonly leaseSecs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Of the sandboxes `node` reports, the strays it must destroy now. */
  async toDestroy(node: string, reported: string[]): Promise<string[]> {
    const { rows } = await this.pool.query<{ sandbox_id: string; creating: boolean }>(
      `SELECT r.id AS sandbox_id, EXISTS (SELECT 1 FROM placements p WHERE p.node = $1
           AND p.sandbox_id LIKE 'pending-%') AS creating
       FROM unnest($2::text[]) AS r(id)
       WHERE NOT EXISTS (SELECT 1 FROM placements p WHERE p.sandbox_id = r.id)
         AND NOT EXISTS (SELECT 1 FROM given_up g WHERE g.sandbox_id = r.id)
         AND NOT EXISTS (SELECT 1 FROM sandbox_moves m WHERE m.sandbox_id = r.id)`,
      [node, reported],
    );
    const now = this.now();
    const before = this.seen.get(node);
    // Only what is unknown in this report is kept: the map stays as small as the node's report.
    const unknown = new Map(rows.map((r) => [r.sandbox_id, before?.get(r.sandbox_id) ?? now]));
    if (unknown.size > 0) this.seen.set(node, unknown);
    else this.seen.delete(node);
    if (rows.some((r) => r.creating)) return [];
    return [...unknown]
      .filter(([, first]) => now - first > this.leaseSecs * 1000)
      .map(([id]) => id)
      .sort();
  }
}

// PostgreSQL for unit tests: the run's shared server (pg-global-setup.ts) and a fresh schema per
// call, so every test starts from empty tables without a server or database of its own.
import { randomBytes } from "node:crypto";
import { inject } from "vitest";

/** The shared test server's URL; throws (failing the test, never skipping it) when it did not start. */
export function pgTestUrl(): string {
  const url = inject("pgUrl");
  if (!url) throw new Error(`the test PostgreSQL did not start: ${inject("pgError") || "no global setup ran"}`);
  return url;
}

/** A schema name no other test uses. */
export function freshSchema(prefix = "t"): string {
  return `${prefix}_${randomBytes(6).toString("hex")}`;
}

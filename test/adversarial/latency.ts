// Latency of one API call (list sandboxes) while a sandbox attacks the daemon, against the same
// call's idle latency measured in the same run (the adversarial floods and huge listings). Idle
// and busy samples are paced alike: a request sent after a pause finds colder caches and a
// sleeping event loop, so back-to-back idle samples against paced busy ones would bias the ratio.
import { performance } from "node:perf_hooks";
import type { SandboxClient } from "@sbx-sh/sdk";

/** The pause between two samples, idle or busy. */
export const PACE_MS = 20;
const IDLE_SAMPLES = 20;

/** Milliseconds one client.list() takes. */
export async function timed(client: SandboxClient): Promise<number> {
  const t = performance.now();
  await client.list();
  return performance.now() - t;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const pause = (): Promise<void> => new Promise((r) => setTimeout(r, PACE_MS));

/** Idle samples, paced as busy ones are. */
export async function idleLatency(client: SandboxClient): Promise<number[]> {
  const idle: number[] = [];
  for (let i = 0; i < IDLE_SAMPLES; i++) {
    idle.push(await timed(client));
    await pause();
  }
  return idle;
}

/** Samples taken, paced, until `done()` says the attack is over; `each` runs after every sample. */
export async function busyLatency(
  client: SandboxClient,
  done: () => boolean,
  each: () => void = () => undefined,
): Promise<number[]> {
  const busy: number[] = [];
  while (!done()) {
    busy.push(await timed(client));
    each();
    await pause();
  }
  return busy;
}

// Environment lists ("K=V") as images and sandboxes carry them: merging with overrides, always
// with a PATH, so a command is found in every image.

export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** Base env list, then overrides on top (later wins); a PATH is always there. */
export function mergeEnv(base: string[], overrides: Record<string, string>): string[] {
  const map = new Map<string, string>();
  map.set("PATH", DEFAULT_PATH);
  for (const kv of base) {
    const i = kv.indexOf("=");
    if (i > 0) map.set(kv.slice(0, i), kv.slice(i + 1));
  }
  for (const [k, v] of Object.entries(overrides)) map.set(k, v);
  return [...map].map(([k, v]) => `${k}=${v}`);
}

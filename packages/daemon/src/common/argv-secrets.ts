// The command line every host user can read (`ps`, /proc/PID/cmdline) with the PostgreSQL password of
// `--store postgres://user:PASSWORD@…` masked. sbxd rewrites its process title to this at start, so the
// password shows only for the moment before; the env (SBX_STORE, 0400 in /proc) never shows it.

const STORE = "--store";

/** `url` with its password shown as `***`; undefined when it is not a URL or holds no password. */
export function maskedPassword(url: string): string | undefined {
  try {
    const u = new URL(url);
    if (!u.password) return undefined;
    u.password = "***";
    return u.toString();
  } catch {
    return undefined;
  }
}

/** `argv` with every --store URL's password masked, or undefined when none holds one. */
export function maskStoreArgs(argv: readonly string[]): string[] | undefined {
  let changed = false;
  const out = argv.map((a, i) => {
    const value = a.startsWith(`${STORE}=`) ? a.slice(STORE.length + 1) : argv[i - 1] === STORE ? a : undefined;
    const m = value === undefined ? undefined : maskedPassword(value);
    if (m === undefined) return a;
    changed = true;
    return a.startsWith(`${STORE}=`) ? `${STORE}=${m}` : m;
  });
  return changed ? out : undefined;
}

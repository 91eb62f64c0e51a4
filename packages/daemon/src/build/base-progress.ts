// Progress of an on-demand base image build, for people waiting on it: the lines a build logs
// (mmdebstrap's `I:` lines, then BaseImages' own compress/unpack/uid-shift lines) mapped to a
// phase with its place in a fixed list, so a client can show "[4/9] extracting archives" instead
// of silence. With mmdebstrap --verbose (apt's and dpkg's own output) the download and install
// phases also count packages: apt's "N newly installed" gives the total, its "Get:" lines count
// downloads and dpkg's "Setting up" lines count installs.

/** One known point of a base build: its phase name and its 1-based step among BASE_PHASES. */
export interface BaseProgress {
  phase: string;
  step: number;
  total: number;
  /** Packages done and expected in this phase, where the output counts them. */
  packages?: { done: number; total: number };
}

/** The phases in the order a build passes them; a reuse of the cached tar skips to "importing". */
const PHASES: Array<[RegExp, string]> = [
  [/^building \S+ from /, "starting"],
  [/^I: running apt-get update/, "updating package lists"],
  [/^I: downloading packages/, "downloading packages"],
  [/^I: extracting archives/, "extracting archives"],
  [/^I: installing essential packages/, "installing essential packages"],
  [/^I: installing remaining packages/, "installing remaining packages"],
  [/^I: creating tarball/, "creating tarball"],
  [/^(built in .*; compressing|using cached )/, "importing"],
  [/^unpacking /, "unpacking and shifting uids"],
  [/^ready /, "ready"],
];

export const BASE_PHASES: readonly string[] = PHASES.map(([, p]) => p);

const NEWLY = /^\d+ upgraded, (\d+) newly installed, /;
/** Which lines count a package in which phase. */
const COUNTS: Record<string, RegExp> = {
  "downloading packages": /^Get:\d+ /,
  "installing essential packages": /^Setting up \S+ \(/,
  "installing remaining packages": /^Setting up \S+ \(/,
};

/** Follows one build's log: each line that starts a phase or counts a package yields the progress now. */
export class BaseProgressParser {
  private current: BaseProgress | undefined;
  private expected = 0;

  feed(line: string): BaseProgress | undefined {
    const started = baseProgressOf(line);
    if (started) {
      this.current = started;
      // The essential install counts what the download phase announced; "remaining" announces anew.
      if (started.phase === "installing essential packages" && this.expected)
        started.packages = { done: 0, total: this.expected };
      return started.packages ? { ...started, packages: { ...started.packages } } : { ...started };
    }
    const cur = this.current;
    if (!cur) return undefined;
    const newly = NEWLY.exec(line);
    if (newly) {
      this.expected = Number(newly[1]);
      cur.packages = { done: 0, total: this.expected };
      return { ...cur, packages: { ...cur.packages } };
    }
    const counter = COUNTS[cur.phase];
    if (!counter?.test(line) || !cur.packages) return undefined;
    cur.packages.done = Math.min(cur.packages.done + 1, cur.packages.total);
    return { ...cur, packages: { ...cur.packages } };
  }
}

/** The phase a log line of a base build starts, or undefined for lines that start none. */
export function baseProgressOf(line: string): BaseProgress | undefined {
  const i = PHASES.findIndex(([re]) => re.test(line));
  if (i < 0) return undefined;
  return { phase: PHASES[i]![1], step: i + 1, total: PHASES.length };
}

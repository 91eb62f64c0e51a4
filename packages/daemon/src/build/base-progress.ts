// Progress of an on-demand base image build, for people waiting on it: the lines a build logs
// (mmdebstrap's `I:` lines, then BaseImages' own compress/unpack/uid-shift lines) mapped to a
// phase with its place in a fixed list, so a client can show "[4/9] extracting archives" instead
// of silence. mmdebstrap prints no per-package counts without a TTY, so phases are what is honest.

/** One known point of a base build: its phase name and its 1-based step among BASE_PHASES. */
export interface BaseProgress {
  phase: string;
  step: number;
  total: number;
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

/** The phase a log line of a base build starts, or undefined for lines that start none. */
export function baseProgressOf(line: string): BaseProgress | undefined {
  const i = PHASES.findIndex(([re]) => re.test(line));
  if (i < 0) return undefined;
  return { phase: PHASES[i]![1], step: i + 1, total: PHASES.length };
}

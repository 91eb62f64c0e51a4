// The signals a process may be sent through the API, by name (with or without the SIG prefix):
// the ones a program can act on or that stop it, never the ones only the kernel should raise.
import { SbxError } from "@sbx-sh/protocol";

export const SIGNALS: readonly NodeJS.Signals[] = [
  "SIGTERM",
  "SIGKILL",
  "SIGINT",
  "SIGHUP",
  "SIGQUIT",
  "SIGUSR1",
  "SIGUSR2",
  "SIGSTOP",
  "SIGCONT",
  "SIGWINCH",
  "SIGALRM",
  "SIGPIPE",
];

export function assertSignal(name: string): NodeJS.Signals {
  const sig = (name.startsWith("SIG") ? name : `SIG${name}`) as NodeJS.Signals;
  if (!SIGNALS.includes(sig))
    throw new SbxError("invalid_argument", `unknown signal ${name}: use one of ${SIGNALS.join(", ")}`);
  return sig;
}

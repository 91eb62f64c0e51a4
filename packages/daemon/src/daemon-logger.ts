// The daemon's logger: pino to stdout, and also appended to --log-file when given (the journal and
// the file under systemd). Apart from the daemon's wiring because how a line is written (in place
// or through the thread pool) is a decision of its own, made for the control plane's speed.
import { pino, type Logger as Pino } from "pino";
import type { DaemonConfig } from "./config.js";

/**
 * A control plane writes its lines in place (one write(2) each): it logs one per forwarded call, and
 * an asynchronous write is a hop to the thread pool and back, whose wake-up of the event loop fell
 * inside every forwarded exec (between the node's answer head and its first line).
 */
export function daemonLogger(cfg: DaemonConfig): Pino {
  const sync = cfg.role === "control";
  if (!cfg.logFile)
    return sync ? pino({ level: cfg.logLevel }, pino.destination({ dest: 1, sync })) : pino({ level: cfg.logLevel });
  const file = pino.destination({ dest: cfg.logFile, append: true, mkdir: true, sync });
  return pino(
    { level: cfg.logLevel },
    pino.multistream([
      { level: cfg.logLevel as pino.Level, stream: process.stdout },
      { level: cfg.logLevel as pino.Level, stream: file },
    ]),
  );
}

// The logger the daemon's modules are handed: the three levels they use, structured first. pino
// satisfies it (the daemon passes its pino logger); tests pass a quiet one.

export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

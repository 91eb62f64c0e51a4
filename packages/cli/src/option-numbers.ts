// Numeric option values, read in one place so every command rejects the same things with one
// message: only plain decimals (Number() would take "1e99", "0x10", and "" as 0), and only numbers
// JavaScript holds exactly. A value past that went to the daemon before, whose schema then said two
// things about it (not a safe integer, and over the field's maximum). Ranges of the fields
// themselves stay the daemon's to check, so every client gets the same error for them.
import { InvalidArgumentError } from "commander";

const WHOLE = /^\d+$/;
const DECIMAL = /^(\d+(\.\d*)?|\.\d+)$/;

/** `n` (read from `value`) when it is a whole number JavaScript holds exactly; else the error `expected` says. */
export function exactWhole(n: number, value: string, expected: string): number {
  if (!Number.isInteger(n)) throw new InvalidArgumentError(`expected ${expected}, got ${JSON.stringify(value)}`);
  if (!Number.isSafeInteger(n))
    throw new InvalidArgumentError(`${JSON.stringify(value)} is too large (expected ${expected})`);
  return n;
}

/** A whole number ≥ `min`, written in decimal digits. */
export function readWhole(value: string, min: number, expected: string): number {
  const v = value.trim();
  if (!WHOLE.test(v)) throw new InvalidArgumentError(`expected ${expected}, got ${JSON.stringify(value)}`);
  const n = exactWhole(Number(v), value, expected);
  if (n < min) throw new InvalidArgumentError(`expected ${expected}, got ${JSON.stringify(value)}`);
  return n;
}

/** A decimal number (fractions allowed) above 0, or ≥ 0 with `zero`. */
export function readDecimal(value: string, expected: string, zero = false): number {
  const v = value.trim();
  const n = Number(v);
  if (!DECIMAL.test(v) || (zero ? n < 0 : n <= 0))
    throw new InvalidArgumentError(`expected ${expected}, got ${JSON.stringify(value)}`);
  if (n > Number.MAX_SAFE_INTEGER)
    throw new InvalidArgumentError(`${JSON.stringify(value)} is too large (expected ${expected})`);
  return n;
}

export const parsePositive = (value: string): number => readDecimal(value, "a positive number");
export const parseNonNegativeInt = (value: string): number => readWhole(value, 0, "a whole number (0 or more)");
export const parsePositiveInt = (value: string): number => readWhole(value, 1, "a positive whole number");

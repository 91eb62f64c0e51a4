// A sandbox's file names are bytes, not text. The daemon carries them as JS strings in which every
// byte that is not part of a valid UTF-8 sequence is the lone surrogate U+DC00 + byte (Python's
// "surrogateescape"): a valid UTF-8 name is its text, and any other name still round-trips to its
// exact bytes at the sandbox's edge (the agent's arguments). On the wire such a name is sent as
// text with U+FFFD in place of those bytes, plus its bytes in base64 (`nameBase64`, `pathBase64`).

const strict = new TextDecoder("utf-8", { fatal: true });
/** A lone surrogate: a UTF-16 half without its other half (not text; here, an escaped byte). */
const LONE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** True for a name that is text (no escaped bytes): it is sent, and addressed, as it is. */
export function isTextName(name: string): boolean {
  LONE.lastIndex = 0;
  return !LONE.test(name);
}

/** The name as text: each escaped byte as U+FFFD (String.prototype.toWellFormed, ES2024). */
export function asText(name: string): string {
  return name.replace(LONE, "\uFFFD");
}

/** The name of these bytes: their text, each byte of an invalid sequence as U+DC00 + byte. */
export function bytesToName(bytes: Uint8Array): string {
  try {
    return strict.decode(bytes);
  } catch {
    // Not UTF-8 as a whole: decode sequence by sequence below.
  }
  let out = "";
  for (let i = 0; i < bytes.length;) {
    const b = bytes[i]!;
    const len = b < 0x80 ? 1 : b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
    const text = len > 0 && i + len <= bytes.length ? decodeOne(bytes.subarray(i, i + len)) : undefined;
    if (text === undefined) {
      out += String.fromCharCode(0xdc00 + b);
      i += 1;
    } else {
      out += text;
      i += len;
    }
  }
  return out;
}

function decodeOne(seq: Uint8Array): string | undefined {
  try {
    return strict.decode(seq);
  } catch {
    return undefined;
  }
}

/** The bytes of a name made by bytesToName (a plain string: its UTF-8). */
export function nameToBytes(name: string): Buffer {
  if (isTextName(name)) return Buffer.from(name, "utf8");
  const parts: Buffer[] = [];
  let run = "";
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    const escaped = c >= 0xdc80 && c <= 0xdcff && !(i > 0 && isHigh(name.charCodeAt(i - 1)));
    if (!escaped) {
      run += name[i];
      continue;
    }
    parts.push(Buffer.from(run, "utf8"), Buffer.from([c - 0xdc00]));
    run = "";
  }
  parts.push(Buffer.from(run, "utf8"));
  return Buffer.concat(parts);
}

const isHigh = (c: number): boolean => c >= 0xd800 && c <= 0xdbff;

/** What the wire says of a name: its text (U+FFFD for bytes that are not UTF-8), and its bytes when it is not text. */
export function wireName(name: string): { name: string; nameBase64?: string } {
  return isTextName(name) ? { name } : { name: asText(name), nameBase64: nameToBytes(name).toString("base64") };
}

// Reading back what the busybox listing script (./sandbox-files.ts LIST_PAGE) prints: the page's
// names, one line each with every newline of a name written as "/" (no name holds a "/"), then
// "@stat" and a `stat -c '%f %s %Y %n'` line per name, whose name part is the raw name, newlines
// and all. Those lines alone are ambiguous (a name can hold "\n1 2 3 fake"), so each one is read
// as the stat of the next name the page announced; a name whose line is missing (it was removed
// meanwhile) is skipped. It is the sandbox's output: nothing beyond `limit` names is taken.
import { bytesToName, nameToBytes } from "./byte-names.js";
import type { DirectoryPage } from "./directory-page.js";
import type { FileEntry } from "./types.js";

const HEAD = /([0-9a-f]+) (\d+) (\d+) /y;

/** Names are byte strings: each byte is one latin1 char here, turned into a name (./byte-names.ts) at the end. */
export function parseListPage(stdout: Buffer, limit: number): DirectoryPage {
  const out = stdout.toString("latin1");
  const split = out.indexOf("\n@stat\n");
  const head = (split < 0 ? out : out.slice(0, split)).split("\n");
  const more = head.includes("@more");
  const names = head
    .filter((l) => l.startsWith("./") && l.length > 2)
    .slice(0, limit)
    .map((l) => l.slice(2).replaceAll("/", "\n"));
  const entries: FileEntry[] = [];
  let pos = split < 0 ? out.length : split + "\n@stat\n".length;
  for (const name of names) {
    HEAD.lastIndex = pos;
    const m = HEAD.exec(out);
    if (!m || !out.startsWith(`${name}\n`, HEAD.lastIndex)) continue;
    pos = HEAD.lastIndex + name.length + 1;
    const text = bytesToName(Buffer.from(name, "latin1"));
    entries.push({ mode: parseInt(m[1]!, 16), size: Number(m[2]), mtime: Number(m[3]), name: text });
  }
  // Listing order: byte order with a newline counted as "/", the order the pages are cut in.
  entries.sort((a, b) => Buffer.compare(listingKey(a.name), listingKey(b.name)));
  // A page with nothing on it ends the listing, whatever the sandbox says: no endless paging.
  return { entries, more: more && entries.length > 0 };
}

function listingKey(name: string): Buffer {
  return nameToBytes(name.replaceAll("\n", "/"));
}

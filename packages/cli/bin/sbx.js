#!/bin/sh
":" //; [ -z "${NODE_EXTRA_CA_CERTS+set}" ] || { export SBX_NODE_EXTRA_CA_CERTS="$NODE_EXTRA_CA_CERTS"; unset NODE_EXTRA_CA_CERTS; }
":" //; exec node "$0" "$@"
// Launcher for the sbx CLI: runs the bundled build (dist/bundle/main.cjs, one file compiled with a
// V8 code cache kept under ~/.cache/sbx: a fresh process starts fast), else the bundle's ES module
// chunks, else the compiled modules. In a checkout, SBX_FROM_SOURCE=1 (the test suite sets it)
// runs the TypeScript sources through tsx instead, never a dist/ older than src/.
//
// The two lines above are sh, and JS that does nothing (a string, then a comment): run as a program,
// this file is a shell script that starts node on itself. Node reads NODE_EXTRA_CA_CERTS while it
// starts, before any JS runs (its whole root store and every certificate of the file: ~50 ms of
// every command when that names the system bundle), and most commands speak to a unix socket. The
// shell hands the variable over as SBX_NODE_EXTRA_CA_CERTS instead; the CLI puts it back for the
// processes it starts and adds the file to its trust when it first makes a TLS connection
// (src/extra-ca-certs.ts). The shell resolves nothing: node itself follows the symlinks to this file
// (npm's bin link, /usr/local/bin/sbx). Started as `node bin/sbx.js`, none of this happens.
import {
  closeSync,
  constants,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from "node:fs";
import { createRequire } from "node:module";
import { homedir } from "node:os";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Script } from "node:vm";

/**
 * A cache file is code V8 runs without checking it against the source: only one that this user owns,
 * in a dir this user owns, neither writable by others nor a link, is used (a root shell with another
 * user's HOME or XDG_CACHE_HOME must not run what that user planted).
 */
function ours(path) {
  try {
    const st = lstatSync(path);
    return !st.isSymbolicLink() && st.uid === process.getuid() && (st.mode & 0o022) === 0;
  } catch {
    return false;
  }
}

/**
 * Runs a CommonJS bundle compiled with V8's code cache: what V8 compiled on the first run (the code
 * a command ran included) is saved next to nothing of ours but the user's cache dir, keyed by the
 * bundle's size and time, and V8 itself refuses a cache made for other code or another V8. Node 20
 * has no compile cache for modules (22's module.enableCompileCache); this is the same for one file.
 * Answers undefined when there is no bundle.
 */
function loadCached(file) {
  let source, st;
  try {
    source = readFileSync(file, "utf8");
    st = statSync(file);
  } catch {
    return undefined;
  }
  const base = process.env.XDG_CACHE_HOME || join(homedir(), ".cache");
  const cacheFile = join(base, "sbx", `cli-${st.size}-${Math.trunc(st.mtimeMs)}-${process.version}.v8`);
  let cachedData;
  if (ours(dirname(cacheFile)) && ours(cacheFile))
    try {
      cachedData = readFileSync(cacheFile);
    } catch {}
  const wrapped = `(function (exports, require, module, __filename, __dirname) {${source}\n})`;
  const script = new Script(wrapped, { filename: file, cachedData });
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(file), module, file, dirname(file));
  const save = () => {
    if (cachedData && !script.cachedDataRejected) return;
    try {
      mkdirSync(dirname(cacheFile), { recursive: true, mode: 0o700 });
      if (!ours(dirname(cacheFile))) return;
      const tmp = `${cacheFile}.${process.pid}`;
      const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      try {
        writeSync(fd, script.createCachedData());
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, cacheFile);
      // Caches of earlier builds of the CLI are of no use any more.
      for (const f of readdirSync(dirname(cacheFile)))
        if (/^cli-.*\.v8$/.test(f) && f !== basename(cacheFile)) rmSync(join(dirname(cacheFile), f), { force: true });
    } catch {
      // A read-only home or a full disk: the CLI works without the cache, only slower.
    }
  };
  return { main: module.exports.main, save };
}

let mod;
if (process.env.SBX_FROM_SOURCE === "1") {
  const { register } = await import("tsx/esm/api");
  register();
  mod = await import(new URL("../src/main.ts", import.meta.url).href);
} else {
  mod = loadCached(fileURLToPath(new URL("../dist/bundle/main.cjs", import.meta.url)));
  mod ??= await import(new URL("../dist/bundle/main.js", import.meta.url).href).catch((err) => {
    if (err?.code !== "ERR_MODULE_NOT_FOUND" || !String(err.message).includes("dist/bundle/main.js")) throw err;
    return import(new URL("../dist/main.js", import.meta.url).href);
  });
}
process.exitCode = await mod.main(process.argv.slice(2));
// After the command: the cache then holds what it compiled lazily too.
mod.save?.();
// Safety net: if a stray handle (a socket, stdin) would keep us alive, leave anyway. Unref'd, so
// it never delays a normal exit.
setTimeout(() => process.exit(), 2000).unref();

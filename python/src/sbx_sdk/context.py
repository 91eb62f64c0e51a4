"""Context tars of copy()/add() steps, byte for byte as the TypeScript SDK writes them
(image-context.ts with node-tar's headers; docs/api.md): one tar per step, entries ``<i>/<name>``
for its i-th source, sorted by bytes, mtime 0, uid/gid 0, modes kept, symlinks as links (a
top-level symlink source is followed), so the tar's sha256 is a content digest that both SDKs
compute alike and the daemon's layer cache keys agree."""

from __future__ import annotations

import glob as _glob
import hashlib
import os
import posixpath
import re
import stat
import tarfile
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import IO, Any

from .errors import SbxError
from .ignore import IgnoreRules
from .source import format_source
from .tarheader import header, pax

_MAX_USTAR_SIZE = 0o77777777777
_ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")


@dataclass
class PackedContext:
    digest: str
    file: str
    size_bytes: int
    sources: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Entry:
    path: str
    type: str  # "0" file, "5" directory, "2" symlink
    mode: int
    size: int = 0
    src: str | None = None
    linkpath: str = ""


def step_label(step: dict[str, Any], number: int, total: int | None = None) -> str:
    where = format_source(step.get("source"))
    return f"step {number}{f'/{total}' if total else ''} ({step['text']}{f' at {where}' if where else ''})"


def pack_copy_step(
    step: dict[str, Any],
    index: int,
    context_dir: str,
    tmp_dir: str,
    ignore: IgnoreRules,
    label: str,
) -> PackedContext:
    sources: list[dict[str, Any]] = []
    entries: list[_Entry] = []
    for src in step["src"]:
        if re.match(r"^https?://", src, re.I):
            name = _url_file_name(src, step["dest"], label)
            file = os.path.join(tmp_dir, f"download-{index}-{len(sources)}")
            size = _download(src, file, label)
            entries.append(_Entry(f"{len(sources)}/{name}", "0", 0o600, size, file))
            sources.append({"name": name, "type": "file"})
            continue
        for rel in _expand(src, context_dir, ignore, label):
            i = len(sources)
            abs_path = os.path.normpath(os.path.join(context_dir, rel))
            _assert_inside(abs_path, src, context_dir, label)
            try:
                st = os.stat(abs_path)
            except OSError as err:
                what = {2: "no such file or directory", 13: "permission denied"}.get(err.errno or 0, str(err))
                raise SbxError(
                    "invalid_argument",
                    f"{label}: {src}: {what} (looked in {context_dir})",
                    {"source": src, "contextDir": context_dir},
                ) from None
            name = (
                (os.path.basename(context_dir.rstrip("/")) or "context") if rel == "." else os.path.basename(abs_path)
            )
            if stat.S_ISDIR(st.st_mode):
                entries.append(_Entry(f"{i}/{name}/", "5", st.st_mode & 0o7777))
                _walk(
                    abs_path,
                    "" if rel == "." else rel.replace(os.sep, "/"),
                    f"{i}/{name}/",
                    ignore,
                    entries,
                )
                sources.append({"name": name, "type": "dir"})
            elif stat.S_ISREG(st.st_mode):
                entries.append(_Entry(f"{i}/{name}", "0", st.st_mode & 0o7777, st.st_size, abs_path))
                extract = step["op"] == "add" and name.lower().endswith(_ARCHIVE_SUFFIXES)
                if extract:
                    _check_archive(abs_path, step["dest"], label)
                sources.append(
                    {"name": name, "type": "file", "extract": True} if extract else {"name": name, "type": "file"}
                )
            else:
                raise SbxError(
                    "invalid_argument",
                    f"{label}: {src} is neither a file nor a directory",
                )
    entries.sort(key=lambda e: e.path.encode())
    file = os.path.join(tmp_dir, f"context-{index}.tar")
    digest, size_bytes = _write_tar(entries, file, label)
    return PackedContext(digest, file, size_bytes, sources)


def _assert_inside(abs_path: str, src: str, context_dir: str, label: str) -> None:
    """A source followed through symbolic links must still be inside the context."""
    if not os.path.lexists(abs_path):
        return
    real = os.path.realpath(abs_path)
    root = os.path.realpath(context_dir)
    if real != root and not real.startswith(root.rstrip("/") + "/"):
        raise SbxError(
            "invalid_argument",
            f"{label}: {src} leads outside the build context {context_dir} through a symbolic link (to {real})",
            {"source": src, "contextDir": context_dir},
        )


def _expand(src: str, context_dir: str, ignore: IgnoreRules, label: str) -> list[str]:
    rel = os.path.relpath(os.path.normpath(os.path.join(context_dir, src)), context_dir)
    if rel == ".." or rel.startswith(".." + os.sep) or os.path.isabs(rel):
        raise SbxError(
            "invalid_argument",
            f"{label}: {src} is outside the build context {context_dir}"
            " (set context_dir, or --context, to a folder that holds it)",
        )
    posix_rel = rel.replace(os.sep, "/")
    if not _glob.has_magic(src):
        is_dir = os.path.isdir(os.path.join(context_dir, rel))
        if posix_rel != "." and ignore.ignores_with_parents(posix_rel, is_dir):
            raise SbxError(
                "invalid_argument",
                f"{label}: {src} is excluded by {ignore.file or os.path.join(context_dir, '.sbxignore')}",
            )
        return [rel]
    found = _glob.glob(posix_rel, root_dir=context_dir, recursive=True, include_hidden=True)
    matches = sorted(
        (m for m in found if not ignore.ignores_with_parents(m, os.path.isdir(os.path.join(context_dir, m)))),
        key=lambda m: m.encode(),
    )
    if not matches:
        raise SbxError(
            "invalid_argument",
            f"{label}: nothing matches {src} (looked in {context_dir})",
            {"source": src, "contextDir": context_dir},
        )
    return matches


def _walk(directory: str, rel: str, prefix: str, ignore: IgnoreRules, out: list[_Entry]) -> None:
    for name in sorted(os.listdir(directory), key=lambda n: n.encode("utf-8", "surrogateescape")):
        abs_path = os.path.join(directory, name)
        child_rel = f"{rel}/{name}" if rel else name
        st = os.lstat(abs_path)
        if ignore.ignores(child_rel, stat.S_ISDIR(st.st_mode)):
            continue
        path = prefix + name
        if stat.S_ISLNK(st.st_mode):
            out.append(_Entry(path, "2", 0o777, linkpath=os.readlink(abs_path)))
        elif stat.S_ISDIR(st.st_mode):
            out.append(_Entry(path + "/", "5", st.st_mode & 0o7777))
            _walk(abs_path, child_rel, path + "/", ignore, out)
        elif stat.S_ISREG(st.st_mode):
            out.append(_Entry(path, "0", st.st_mode & 0o7777, st.st_size, abs_path))
        # Sockets, fifos and devices have no content to copy; they are left out, as git does.


def _write_tar(entries: list[_Entry], file: str, label: str) -> tuple[str, int]:
    h = hashlib.sha256()
    total = 0
    fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:

        def put(b: bytes) -> None:
            nonlocal total
            h.update(b)
            total += len(b)
            out.write(b)

        for e in entries:
            head, need_pax = header(e.path, e.type, e.mode, e.size, e.linkpath, 0, 0)
            if need_pax:
                put(pax(e.path, e.linkpath, e.size if e.size > _MAX_USTAR_SIZE else None))
            put(head)
            if e.type != "0" or not e.src or e.size == 0:
                continue
            copied = 0
            with open(e.src, "rb") as f:
                while copied < e.size:
                    chunk = f.read(min(1 << 20, e.size - copied))
                    if not chunk:
                        break
                    copied += len(chunk)
                    put(chunk)
            if copied != e.size:
                raise SbxError(
                    "failed_precondition",
                    f"{label}: {e.src} changed while it was being packed; try again",
                )
            if e.size % 512:
                put(b"\0" * (512 - e.size % 512))
        put(b"\0" * 1024)
    return f"sha256:{h.hexdigest()}", total


def _check_archive(file: str, dest: str, label: str) -> None:
    """Refuses a local archive add() would unpack with an entry that lands outside ``dest``."""
    try:
        with tarfile.open(file, "r:*") as tar:
            for m in tar:
                parts = m.name.split("/")
                why = "absolute path" if m.name.startswith("/") else "'..' in its path" if ".." in parts else None
                if not why and (m.issym() or m.islnk()):
                    target = m.linkname if m.islnk() else posixpath.join(posixpath.dirname(m.name), m.linkname)
                    if m.linkname.startswith("/") and m.issym():
                        why = None  # absolute symlinks resolve inside the image's root
                    elif posixpath.normpath(target).startswith(".."):
                        why = "a link that leads out"
                if why:
                    raise SbxError(
                        "invalid_archive",
                        f"{label}: refusing to unpack {file}: entry {m.name!r} would land outside {dest} ({why})",
                        {"archive": file, "entry": m.name},
                    )
    except tarfile.TarError as err:
        raise SbxError("invalid_archive", f"{label}: {file} is not a readable archive ({err})") from None


def _url_file_name(url: str, dest: str, label: str) -> str:
    last = urllib.parse.urlsplit(url).path.split("/")[-1]
    name = urllib.parse.unquote(last)
    if not name and not dest.endswith("/"):
        name = posixpath.basename(dest)
    if not name or name in (".", "..") or "/" in name or len(name.encode()) > 255:
        raise SbxError(
            "invalid_argument",
            f"{label}: cannot tell a file name from {url}: give a destination that ends in the file name",
        )
    return name


def _download(url: str, file: str, label: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=60) as res, open(file, "wb") as out:  # noqa: S310 (http/https only)
            while chunk := res.read(1 << 20):
                out.write(chunk)
    except OSError as err:
        raise SbxError("failed_precondition", f"{label}: cannot download {url}: {err}") from None
    return os.path.getsize(file)


def open_context(packed: PackedContext) -> IO[bytes]:
    return open(packed.file, "rb")

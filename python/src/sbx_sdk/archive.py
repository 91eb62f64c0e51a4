"""Tar for copying trees in and out of sandboxes: packing a local directory's contents, and
extracting a download. What comes out of a sandbox is hostile: extraction writes only inside the
target, never through a symbolic link, without owners, setuid/setgid/sticky bits, devices or fifos."""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
import tempfile
from collections.abc import Callable, Iterable
from typing import IO

from .errors import SbxError

Warn = Callable[[str, bool], None]


def pack_directory_contents(local_dir: str) -> IO[bytes]:
    """What is inside ``local_dir`` as a tar (entries ``./...``) in a temp file, rewound."""
    if not os.path.isdir(local_dir):
        raise SbxError("invalid_argument", f"{local_dir} is not a directory")
    out = tempfile.TemporaryFile()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.add(local_dir, arcname=".", filter=_portable)
    out.seek(0)
    return out


def _portable(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def extract_safe(
    chunks: Iterable[bytes],
    local_dir: str,
    strip: int = 0,
    on_warning: Warn | None = None,
) -> None:
    """Unpacks a tar stream into ``local_dir`` (created if missing) without writing outside it."""
    os.makedirs(local_dir, exist_ok=True)
    root = os.path.realpath(local_dir)
    warn = on_warning or (lambda _m, _r: None)
    with tempfile.TemporaryFile() as spool:
        for chunk in chunks:
            spool.write(chunk)
        spool.seek(0)
        try:
            tar = tarfile.open(fileobj=spool, mode="r:*")
        except tarfile.TarError as err:
            raise SbxError("invalid_archive", f"the archive is empty or not a tar ({err})") from None
        with tar:
            for member in tar:
                _extract_member(tar, member, root, strip, warn)


def _extract_member(tar: tarfile.TarFile, m: tarfile.TarInfo, root: str, strip: int, warn: Warn) -> None:
    parts = [p for p in m.name.split("/") if p not in ("", ".")]
    if m.name.startswith("/"):
        warn(f"{m.name}: leading / stripped", False)
    if ".." in parts:
        return warn(f"{m.name}: path contains '..'", True)
    parts = parts[strip:]
    if not parts:
        return
    if not (m.isreg() or m.isdir() or m.issym() or m.islnk()):
        return warn(f"{m.name}: {_kind(m)} entries are not copied", True)
    dest = os.path.join(root, *parts)
    # A directory the archive made into a symlink must not carry later entries (nor the missing
    # directories above them) out of the target.
    if not _make_parents(root, parts[:-1]):
        return warn(f"{m.name}: would be written through a symbolic link", True)
    mode = m.mode & 0o777
    if m.isdir():
        if os.path.islink(dest):
            return warn(f"{m.name}: a symbolic link is in the way", True)
        os.makedirs(dest, exist_ok=True)
        os.chmod(dest, mode | 0o700)
    elif m.issym():
        _remove(dest)
        os.symlink(m.linkname, dest)
    elif m.islnk():
        target = os.path.join(root, *[p for p in m.linkname.split("/") if p not in ("", ".")][strip:])
        real = os.path.realpath(target)
        if ".." in m.linkname.split("/") or not _inside(real, root) or not os.path.isfile(real):
            return warn(f"{m.name} -> {m.linkname}: hard link outside the target", True)
        _remove(dest)
        os.link(real, dest)
    else:
        src = tar.extractfile(m)
        if src is None:
            return
        _remove(dest)
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
        with os.fdopen(fd, "wb") as f, src:
            shutil.copyfileobj(src, f)
        os.chmod(dest, mode)


def _make_parents(root: str, dirs: list[str]) -> bool:
    """Creates ``root/dirs...`` one level at a time, each checked before it is entered: an
    ``os.makedirs`` of the whole path would create directories wherever a planted link points."""
    path = root
    for name in dirs:
        path = os.path.join(path, name)
        if not _inside(os.path.realpath(path), root):
            return False
        if not os.path.lexists(path):
            os.mkdir(path)
        elif not os.path.isdir(path):
            return False
    return True


def _remove(path: str) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _kind(m: tarfile.TarInfo) -> str:
    if m.ischr() or m.isblk():
        return "device"
    if m.isfifo():
        return "fifo"
    return "special"

"""Tar headers exactly as node-tar 7 encodes them (its Header.encode and Pax.encode), so a context
tar packed by the Python SDK has the same bytes, hence the same sha256, as the TypeScript SDK's:
ustar with a prefix split for paths of 100 bytes or more, a PAX header when a field does not fit
(long or non-ASCII names), octal fields padded as node-tar pads them."""

from __future__ import annotations

import posixpath

from .errors import SbxError


def _octal(num: int, size: int) -> bytes:
    s = format(num, "o")
    text = s if len(s) == size - 1 else "0" * max(size - len(s) - 2, 0) + s + " "
    return (text + "\0").encode()[:size]


def _enc_string(buf: bytearray, off: int, size: int, value: str) -> bool:
    raw = value.encode()
    cut = raw[:size]
    # Like Buffer.write: a character that does not fit whole is left out.
    while cut and len(cut) < len(raw):
        try:
            cut.decode()
            break
        except UnicodeDecodeError:
            cut = cut[:-1]
    buf[off : off + len(cut)] = cut
    return len(raw) != len(value) or len(value) > size


def _enc_number(buf: bytearray, off: int, size: int, num: int | None) -> bool:
    if num is None:
        return False
    if num > (0o77777777777 if size == 12 else 0o7777777) or num < 0:
        raise SbxError("out_of_range", f"a number in a tar header does not fit: {num}")
    buf[off : off + size] = _octal(num, size)
    return False


def _node_dirname(p: str) -> str:
    p = p.rstrip("/") or p
    d = posixpath.dirname(p)
    return d or "."


def _node_basename(p: str) -> str:
    return posixpath.basename(p.rstrip("/"))


def _split_prefix(p: str) -> tuple[str, str, bool]:
    if len(p.encode()) < 100:
        return p, "", False
    prefix, pp = _node_dirname(p), _node_basename(p)
    while True:
        if len(pp.encode()) <= 100 and len(prefix.encode()) <= 155:
            return pp, prefix, False
        if len(pp.encode()) > 100 and len(prefix.encode()) <= 155:
            return pp[:99], prefix, True
        pp = posixpath.join(_node_basename(prefix), pp)
        prefix = _node_dirname(prefix)
        if prefix == ".":
            return p[:99], "", True


def header(
    path: str,
    type_: str,
    mode: int,
    size: int,
    linkpath: str,
    mtime: int | None,
    uid: int | None,
) -> tuple[bytes, bool]:
    buf = bytearray(512)
    name, prefix, need = _split_prefix(path)
    need = _enc_string(buf, 0, 100, name) or need
    _enc_number(buf, 100, 8, mode)
    _enc_number(buf, 108, 8, uid)
    _enc_number(buf, 116, 8, uid)
    _enc_number(buf, 124, 12, size)
    _enc_number(buf, 136, 12, mtime)
    buf[156] = ord(type_)
    need = _enc_string(buf, 157, 100, linkpath) or need
    buf[257:265] = b"ustar\x0000"
    _enc_number(buf, 329, 8, 0)
    _enc_number(buf, 337, 8, 0)
    need = _enc_string(buf, 345, 155, prefix) or need
    checksum = 8 * 0x20 + sum(buf[0:148]) + sum(buf[156:512])
    buf[148:156] = _octal(checksum, 8)
    return bytes(buf), need


def _pax_field(key: str, value: str) -> str:
    s = f" {key}={value}\n"
    n = len(s.encode())
    digits = len(str(n))
    if n + digits >= 10**digits:
        digits += 1
    return f"{n + digits}{s}"


def pax(path: str, linkpath: str, size: int | None) -> bytes:
    body = _pax_field("path", path)
    if linkpath:
        body += _pax_field("linkpath", linkpath)
    if size is not None:
        body += _pax_field("size", str(size))
    raw = body.encode()
    head, _ = header(("PaxHeader/" + _node_basename(path))[:99], "x", 0o644, len(raw), "", None, None)
    return head + raw + b"\0" * (-len(raw) % 512)

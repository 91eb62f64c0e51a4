"""A path in a sandbox: text, or ``bytes`` for a name that is not UTF-8 (a listing gives such a
name's bytes as ``name_base64``; the file routes take bytes as ``pathBase64``)."""

from __future__ import annotations

import base64

from .wire import FileInfo


def path_query(path: str | bytes) -> dict[str, str]:
    """The query that names ``path``: ``path`` for text, ``pathBase64`` for bytes."""
    if isinstance(path, str):
        return {"path": path}
    return {"pathBase64": base64.b64encode(bytes(path)).decode("ascii")}


def entry_path(directory: str | bytes, entry: FileInfo) -> str | bytes:
    """The path of a listed entry of ``directory``: text, or bytes when its name is not UTF-8."""
    if entry.name_base64 is None and isinstance(directory, str):
        return directory + entry.name if directory.endswith("/") else f"{directory}/{entry.name}"
    d = directory.encode() if isinstance(directory, str) else bytes(directory)
    name = base64.b64decode(entry.name_base64) if entry.name_base64 is not None else entry.name.encode()
    return d + name if d.endswith(b"/") else d + b"/" + name

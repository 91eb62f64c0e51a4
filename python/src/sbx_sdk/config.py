"""Where the SDK finds sbxd: explicit arguments, then the SBX_HOST / SBX_TOKEN / SBX_PROJECT
environment variables, then defaults (the same rules as the TypeScript SDK's config.ts). The only
place the package reads its environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from .errors import SbxError

DEFAULT_HOST = "unix:///run/sbx/sbxd.sock"
DEFAULT_PROJECT = "default"


@dataclass(frozen=True)
class ResolvedConfig:
    #: The host as given, normalised (``unix:///...`` or ``http(s)://...``).
    host: str
    socket_path: str | None
    #: ``http://localhost`` over a socket; the scheme, host, port and path prefix over TCP.
    base_url: str
    token: str | None
    project: str


def resolve_config(
    host: str | None = None,
    token: str | None = None,
    project: str | None = None,
    env: Mapping[str, str] | None = None,
) -> ResolvedConfig:
    e = os.environ if env is None else env
    raw = host or e.get("SBX_HOST") or DEFAULT_HOST
    normalised, socket_path, base_url = parse_host(raw)
    return ResolvedConfig(
        host=normalised,
        socket_path=socket_path,
        base_url=base_url,
        token=token or e.get("SBX_TOKEN") or None,
        project=project or e.get("SBX_PROJECT") or DEFAULT_PROJECT,
    )


def parse_host(raw: str) -> tuple[str, str | None, str]:
    """``(host, socket_path, base_url)`` of ``unix:///path``, ``/path``, ``tcp://h:p`` or ``http(s)://h:p``."""
    if raw.startswith("/"):
        raw = "unix://" + raw
    if raw.startswith("unix://"):
        path = raw[len("unix://") :]
        if not path.startswith("/"):
            raise SbxError(
                "invalid_argument",
                f"bad host {raw!r}: a unix socket host is unix:///absolute/path",
            )
        return f"unix://{path}", path, "http://localhost"
    if raw.startswith("tcp://"):
        raw = "http://" + raw[len("tcp://") :]
    try:
        url = urlsplit(raw)
        url.port  # raises on a bad port
    except ValueError:
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.hostname:
        raise SbxError(
            "invalid_argument",
            f"bad host {raw!r}: use unix:///path/to/sbxd.sock or http://host:port",
        )
    base = f"{url.scheme}://{url.netloc}{url.path.rstrip('/')}"
    return base, None, base


def default_base_image(env: Mapping[str, str] | None = None) -> str:
    """The base image of an Image that names none: SBX_DEFAULT_BASE_IMAGE, else debian-minimal."""
    e = os.environ if env is None else env
    return e.get("SBX_DEFAULT_BASE_IMAGE") or "debian-minimal"

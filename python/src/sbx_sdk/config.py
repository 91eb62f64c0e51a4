"""Where the SDK finds sbxd: explicit arguments, then the SBX_HOST / SBX_TOKEN / SBX_PROJECT /
SBX_CA_CERT environment variables, then the current context of the user's config file (``sbx
context use``; ``$SBX_CONFIG``, else ``$XDG_CONFIG_HOME/sbx/config.json``, else
``~/.config/sbx/config.json``), then defaults: the same rules as the TypeScript SDK's config.ts.
The only place the package reads its environment (and that file)."""

from __future__ import annotations

import json
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
    #: The project named, else ``default`` (what a unix socket uses then; over TCP, the token's).
    project: str
    #: PEM text of the CA(s) an https:// host is verified with, or None for the system's.
    ca: str | None = None
    #: The config-file context in use, or None.
    context: str | None = None
    #: True when a project was named (argument, SBX_PROJECT or the context): only then is it sent.
    project_named: bool = False


def resolve_config(
    host: str | None = None,
    token: str | None = None,
    project: str | None = None,
    env: Mapping[str, str] | None = None,
    *,
    ca: str | None = None,
    context: str | None = None,
) -> ResolvedConfig:
    e = os.environ if env is None else env
    explicit = host or e.get("SBX_HOST") or None
    # A host given outright never borrows a context's token: that would send it to another daemon.
    path = config_file_path(e)
    picked = None if explicit else _pick_context(read_config_file(path), context or e.get("SBX_CONTEXT"), path)
    ctx: Mapping[str, str] = picked[1] if picked else {}
    normalised, socket_path, base_url = parse_host(explicit or ctx.get("host") or DEFAULT_HOST)
    named = project or e.get("SBX_PROJECT") or ctx.get("project")
    return ResolvedConfig(
        host=normalised,
        socket_path=socket_path,
        base_url=base_url,
        token=token or e.get("SBX_TOKEN") or ctx.get("token") or None,
        project=named or DEFAULT_PROJECT,
        project_named=bool(named),
        ca=_load_ca(ca or e.get("SBX_CA_CERT") or ctx.get("ca")),
        context=picked[0] if picked else None,
    )


def config_file_path(env: Mapping[str, str]) -> str | None:
    if env.get("SBX_CONFIG"):
        return env["SBX_CONFIG"]
    base = env.get("XDG_CONFIG_HOME") or (os.path.join(env["HOME"], ".config") if env.get("HOME") else None)
    return os.path.join(base, "sbx", "config.json") if base else None


def read_config_file(path: str | None) -> dict[str, object]:
    """The config file, or an empty one. It holds tokens: one that others may read is refused."""
    if not path:
        return {"contexts": {}}
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return {"contexts": {}}
    if st.st_mode & 0o077:
        raise SbxError(
            "permission_denied",
            f"{path} holds tokens but others can read it (mode {st.st_mode & 0o777:04o}):"
            f" make it private with `chmod 600 {path}`",
        )
    try:
        with open(path, encoding="utf-8") as f:
            parsed = json.load(f)
    except ValueError as err:
        raise SbxError("invalid_argument", f"{path} is not valid JSON: {err}") from None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("contexts"), dict):
        raise SbxError("invalid_argument", f'{path} is not an sbx config file: expected {{"contexts": {{...}}}}')
    return parsed


def _pick_context(file: dict[str, object], asked: str | None, path: str | None) -> tuple[str, Mapping[str, str]] | None:
    current = file.get("current")
    name = asked or (current if isinstance(current, str) else None)
    if not name:
        return None
    contexts = file.get("contexts")
    entry = contexts.get(name) if isinstance(contexts, dict) else None
    if not isinstance(entry, dict):
        where = f" in {path}" if path else ""
        raise SbxError(
            "not_found", f"context {json.dumps(name)} does not exist{where}: list them with `sbx context ls`"
        )
    return name, {k: v for k, v in entry.items() if isinstance(v, str)}


def _load_ca(value: str | None) -> str | None:
    """PEM text as given, or read from the file it names."""
    if not value:
        return None
    if "-----BEGIN" in value:
        return value
    try:
        with open(value, encoding="utf-8") as f:
            return f.read()
    except OSError as err:
        raise SbxError("invalid_argument", f"cannot read the CA certificate {value}: {err}") from None


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

"""The records the daemon answers with, as dataclasses with Python names (``memory_mb`` for the
wire's ``memoryMb``). Unknown fields are ignored (newer daemons stay compatible) and the answer as
sent is kept in ``raw``."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


def _snake(name: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)


def from_wire(cls: type[T], value: dict[str, Any]) -> T:
    """Builds ``cls`` from a camelCase wire object; missing fields get their defaults."""
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {k: v for k, v in ((_snake(k), v) for k, v in value.items()) if k in names and k != "raw"}
    obj = cls(**kwargs)
    object.__setattr__(obj, "raw", value)
    return obj


@dataclass
class SandboxInfo:
    id: str = ""
    name: str | None = None
    project: str = ""
    image: str = ""
    image_id: str = ""
    status: str = ""
    cpus: float = 0
    memory_mb: int = 0
    pids_limit: int = 0
    disk_mb: int = 0
    timeout_secs: int = 0
    allow_internet_access: bool = False
    allow_out: list[str] = field(default_factory=list)
    deny_out: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    ip_address: str | None = None
    snapshot_id: str | None = None
    created_at: str = ""
    started_at: str | None = None
    terminated_at: str | None = None
    termination_reason: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class ProcessInfo:
    id: str = ""
    sandbox_id: str = ""
    command: str = ""
    args: list[str] = field(default_factory=list)
    status: str = ""
    exit_code: int | None = None
    signal: str | None = None
    timed_out: bool = False
    stdin: bool = False
    started_at: str = ""
    ended_at: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class FileInfo:
    #: The name as text; bytes that are not UTF-8 show as U+FFFD.
    name: str = ""
    type: str = ""
    size: int = 0
    mode: int = 0
    modified_at: str = ""
    #: Only for a name that is not UTF-8: its bytes in base64 (address it with a ``bytes`` path).
    name_base64: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class DirectoryListing:
    path: str
    entries: list[FileInfo]


@dataclass
class SnapshotInfo:
    id: str = ""
    project: str = ""
    type: str = ""
    status: str = ""
    source_sandbox_id: str = ""
    source_image: str = ""
    source_image_id: str = ""
    parent_snapshot_id: str | None = None
    layers: int = 0
    size_bytes: int = 0
    error: str | None = None
    created_at: str = ""
    completed_at: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class PortExposure:
    sandbox_id: str = ""
    port: int = 0
    public: bool = False
    url: str = ""
    token: str = ""
    created_at: str = ""
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class ImageInfo:
    name: str = ""
    tag: str = ""
    id: str = ""
    project: str | None = None
    kind: str = ""
    base_image: str | None = None
    size_bytes: int = 0
    layers: list[dict[str, Any]] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    build_id: str | None = None
    isolation: str = ""
    created_at: str = ""
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class BuildInfo:
    id: str = ""
    project: str = ""
    image_name: str = ""
    tag: str = ""
    state: str = ""
    steps: int = 0
    image_id: str | None = None
    failure: dict[str, Any] | None = None
    created_at: str = ""
    started_at: str | None = None
    ended_at: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class DaemonInfo:
    version: str = ""
    runtime: str = ""
    cgroup_version: int = 0
    data_dir: str = ""
    sandboxes_running: int = 0
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class Project:
    name: str = ""
    created_at: str = ""
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class Token:
    id: str = ""
    project: str = ""
    token: str | None = None
    created_at: str = ""
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

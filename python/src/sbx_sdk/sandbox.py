"""Sandbox: one sandbox as an object, with Tensorlake's Python names: create/connect, run commands,
background processes, files and directory trees, snapshots and forks, suspend/resume, ports, and
terminate. ``with Sandbox.create(...) as sb:`` terminates it on the way out."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from types import TracebackType
from typing import IO, Any

from .archive import Warn, extract_safe, pack_directory_contents
from .client import SandboxClient
from .file_path import path_query
from .process import (
    CommandResult,
    ProcessEvent,
    SandboxProcess,
    collect_result,
    decode_events,
)
from .routes import ROUTES
from .terminal import PortConnection, Terminal
from .transport import Transport, api_path
from .wire import (
    DirectoryListing,
    FileInfo,
    PortExposure,
    ProcessInfo,
    SandboxInfo,
    SnapshotInfo,
    from_wire,
)


def _volume_mounts(volumes: list[Mapping[str, Any]] | None) -> list[dict[str, Any]] | None:
    """``[{"name": "data", "path": "/data", "read_only": True}]`` (or ``readOnly``) as the wire's mounts."""
    if volumes is None:
        return None
    out: list[dict[str, Any]] = []
    for v in volumes:
        mount: dict[str, Any] = {"name": v["name"], "path": v["path"]}
        read_only = v.get("read_only", v.get("readOnly"))
        if read_only is not None:
            mount["readOnly"] = bool(read_only)
        out.append(mount)
    return out


class Sandbox:
    def __init__(self, client: SandboxClient, info: SandboxInfo) -> None:
        self.client = client
        self.id = info.id
        self.last_info = info

    # --- lifecycle ----------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        image: str | None = None,
        *,
        cpus: float | None = None,
        memory_mb: int | None = None,
        disk_mb: int | None = None,
        pids_limit: int | None = None,
        timeout_secs: int | None = None,
        allow_internet_access: bool | None = None,
        allow_out: list[str] | None = None,
        deny_out: list[str] | None = None,
        env: Mapping[str, str] | None = None,
        name: str | None = None,
        snapshot_id: str | None = None,
        volumes: list[Mapping[str, Any]] | None = None,
        client: SandboxClient | None = None,
        host: str | None = None,
        token: str | None = None,
        project: str | None = None,
        context: str | None = None,
    ) -> Sandbox:
        """Creates a sandbox (from ``image``, default debian-minimal, or ``snapshot_id``) and returns once it runs."""
        c = client or SandboxClient(host=host, token=token, project=project, context=context)
        req: dict[str, Any] = {}
        for key, value in (
            ("image", image),
            ("name", name),
            ("cpus", cpus),
            ("memoryMb", memory_mb),
            ("diskMb", disk_mb),
            ("pidsLimit", pids_limit),
            ("timeoutSecs", timeout_secs),
            ("allowInternetAccess", allow_internet_access),
            ("allowOut", allow_out),
            ("denyOut", deny_out),
            ("env", dict(env) if env is not None else None),
            ("snapshotId", snapshot_id),
            ("volumes", _volume_mounts(volumes)),
        ):
            if value is not None:
                req[key] = value
        return cls(c, c.create(req))

    @classmethod
    def connect(cls, id_or_name: str, client: SandboxClient | None = None, **conn: Any) -> Sandbox:
        """Attaches to an existing sandbox by id or name."""
        c = client or SandboxClient(**conn)
        return cls(c, c.get(id_or_name))

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.terminate()

    def __repr__(self) -> str:
        return f"Sandbox(id={self.id!r}, name={self.name!r}, status={self.last_info.status!r})"

    @property
    def name(self) -> str | None:
        return self.last_info.name

    @property
    def _t(self) -> Transport:
        return self.client.transport

    def _path(self, route: str, **params: str | int) -> str:
        return api_path(ROUTES[route], id=self.id, **params)

    def info(self) -> SandboxInfo:
        self.last_info = self.client.get(self.id)
        return self.last_info

    def terminate(self) -> SandboxInfo:
        self.last_info = self.client.terminate(self.id)
        return self.last_info

    def update_network(self, allow_out: list[str] | None = None, deny_out: list[str] | None = None) -> SandboxInfo:
        self.last_info = self.client.update_network(self.id, allow_out, deny_out)
        return self.last_info

    # --- commands and processes ---------------------------------------------------------------

    def exec(
        self,
        command: str,
        args: list[str] | None = None,
        *,
        env: Mapping[str, str] | None = None,
        working_dir: str | None = None,
        user: str | None = None,
        timeout: float | None = None,
    ) -> Iterator[ProcessEvent]:
        """Runs a command to completion as a stream of events: Started, OutputChunk..., Exit."""
        body = _process_request(command, args, env, working_dir, user, timeout)
        res = self._t.send("POST", self._path("sandboxExec"), json_body=body)
        return decode_events(res.iter_ndjson())

    def run(
        self,
        command: str,
        args: list[str] | None = None,
        *,
        env: Mapping[str, str] | None = None,
        working_dir: str | None = None,
        user: str | None = None,
        timeout: float | None = None,
        on_stdout: Callable[[str], None] | None = None,
        on_stderr: Callable[[str], None] | None = None,
    ) -> CommandResult:
        """Runs ``command`` (no shell: pass ``args``, or run ``sh`` with ``["-c", script]``) and waits."""
        events = self.exec(command, args, env=env, working_dir=working_dir, user=user, timeout=timeout)
        return collect_result(events, on_stdout, on_stderr, command)

    def start_process(
        self,
        command: str,
        args: list[str] | None = None,
        *,
        env: Mapping[str, str] | None = None,
        working_dir: str | None = None,
        user: str | None = None,
        timeout: float | None = None,
        stdin: bool = False,
    ) -> SandboxProcess:
        """Starts a process in the background and returns its handle at once."""
        body = _process_request(command, args, env, working_dir, user, timeout)
        if stdin:
            body["stdin"] = True
        info = from_wire(ProcessInfo, self._t.json("POST", self._path("processes"), json_body=body))
        return SandboxProcess(self._t, self.id, info)

    def list_processes(self) -> list[ProcessInfo]:
        return [from_wire(ProcessInfo, p) for p in self._t.json("GET", self._path("processes"))["processes"]]

    def get_process(self, process_id: str) -> SandboxProcess:
        info = from_wire(ProcessInfo, self._t.json("GET", self._path("process", pid=process_id)))
        return SandboxProcess(self._t, self.id, info)

    # --- files --------------------------------------------------------------------------------

    def read_file(self, path: str | bytes) -> bytes:
        """A ``bytes`` path names a file whose name is not UTF-8 (a listing's ``name_base64``)."""
        return self._t.send("GET", self._path("files"), query=path_query(path)).read()

    def write_file(self, path: str | bytes, data: str | bytes) -> None:
        """Writes a whole file, creating parent directories."""
        payload = data.encode() if isinstance(data, str) else bytes(data)
        self._t.empty("PUT", self._path("files"), query=path_query(path), body=payload)

    def list_directory(self, path: str | bytes) -> DirectoryListing:
        res = self._t.json("GET", self._path("filesList"), query=path_query(path))
        return DirectoryListing(res["path"], [from_wire(FileInfo, e) for e in res["entries"]])

    def delete_file(self, path: str | bytes, recursive: bool = False) -> None:
        self._t.empty("DELETE", self._path("files"), query={**path_query(path), "recursive": recursive})

    def upload_archive(self, remote_dir: str, archive: bytes | IO[bytes]) -> None:
        """Unpacks a tar (or tar.gz) into ``remote_dir``, which is created."""
        self._t.empty("PUT", self._path("archive"), query={"path": remote_dir}, body=archive)

    def download_archive(self, remote_path: str) -> Iterator[bytes]:
        """A tar stream (chunks) holding ``remote_path`` (a file or a tree) under its basename."""
        return self._t.send("GET", self._path("archive"), query={"path": remote_path}).iter_chunks()

    def upload_directory(self, local_dir: str, remote_dir: str) -> None:
        """Copies what is inside ``local_dir`` into ``remote_dir`` (created if missing)."""
        with pack_directory_contents(local_dir) as tar:
            self.upload_archive(remote_dir, tar)

    def download_directory(self, remote_path: str, local_dir: str, on_warning: Warn | None = None) -> None:
        """Copies what is inside the sandbox directory ``remote_path`` into ``local_dir`` (created if missing)."""
        extract_safe(
            self.download_archive(remote_path),
            local_dir,
            strip=1,
            on_warning=on_warning,
        )

    # --- snapshots, forks, suspend ------------------------------------------------------------

    def snapshot(self, type: str | None = None) -> SnapshotInfo:
        """A point-in-time copy of the sandbox's files; the sandbox keeps running."""
        body = {"type": type} if type else {}
        return from_wire(
            SnapshotInfo,
            self._t.json("POST", self._path("sandboxSnapshot"), json_body=body),
        )

    def copy(self, times: int = 1) -> list[Sandbox]:
        """Forks: one snapshot, ``times`` new running sandboxes with this one's files."""
        res = self._t.json("POST", self._path("sandboxCopy"), json_body={"times": times})
        return [Sandbox(self.client, from_wire(SandboxInfo, s)) for s in res["sandboxes"]]

    fork = copy

    def suspend(self) -> SandboxInfo:
        """Saves a named sandbox's files and releases its processes and memory; ``resume()`` brings it back."""
        self.last_info = from_wire(SandboxInfo, self._t.json("POST", self._path("sandboxSuspend")))
        return self.last_info

    def resume(self) -> SandboxInfo:
        self.last_info = from_wire(SandboxInfo, self._t.json("POST", self._path("sandboxResume")))
        return self.last_info

    # --- ports --------------------------------------------------------------------------------

    def expose_port(self, port: int, public: bool = False) -> PortExposure:
        """Makes ``port`` reachable at a URL of the daemon's HTTP proxy (with a token unless ``public``)."""
        return self.client.expose_port(self.id, port, public)

    def list_ports(self) -> list[PortExposure]:
        return self.client.list_ports(self.id)

    def close_port(self, port: int) -> PortExposure:
        return self.client.close_port(self.id, port)

    def connect_port(self, port: int) -> PortConnection:
        """A TCP connection to ``port`` inside the sandbox, through the daemon (TypeScript: ``connect(port)``)."""
        return PortConnection.open(self._t, self.id, port)

    # --- terminals ----------------------------------------------------------------------------

    def create_terminal(
        self,
        cols: int = 80,
        rows: int = 24,
        *,
        command: str | None = None,
        args: list[str] | None = None,
        env: Mapping[str, str] | None = None,
        working_dir: str | None = None,
        user: str | None = None,
    ) -> Terminal:
        """Opens a terminal (a shell by default) of cols x rows and attaches to it."""
        req: dict[str, Any] = {"cols": cols, "rows": rows}
        for key, value in (
            ("command", command),
            ("args", args),
            ("env", dict(env) if env else None),
            ("workingDir", working_dir),
            ("user", user),
        ):
            if value:
                req[key] = value
        info = self._t.json("POST", self._path("terminals"), json_body=req)
        return Terminal.attach(self._t, self.id, info["id"])

    def attach_terminal(self, terminal_id: str) -> Terminal:
        """Attaches (again) to a terminal; its recent output is replayed first."""
        return Terminal.attach(self._t, self.id, terminal_id)

    def list_terminals(self) -> list[dict[str, Any]]:
        terminals: list[dict[str, Any]] = self._t.json("GET", self._path("terminals"))["terminals"]
        return terminals


def _process_request(
    command: str,
    args: list[str] | None,
    env: Mapping[str, str] | None,
    working_dir: str | None,
    user: str | None,
    timeout: float | None,
) -> dict[str, Any]:
    req: dict[str, Any] = {"command": command}
    if args:
        req["args"] = list(args)
    if env:
        req["env"] = dict(env)
    if working_dir:
        req["workingDir"] = working_dir
    if user:
        req["user"] = user
    if timeout is not None and timeout > 0:
        req["timeoutSecs"] = -int(-timeout // 1)
    return req

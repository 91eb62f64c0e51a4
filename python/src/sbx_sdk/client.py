"""SandboxClient: the daemon-level calls (sandboxes as records, daemon info, images, builds and
their contexts, snapshots, projects and tokens). Working inside one sandbox is Sandbox's job;
defining and building an image is Image's."""

from __future__ import annotations

import builtins
from collections.abc import Iterator, Mapping
from typing import IO, Any, cast

from .errors import SbxError
from .routes import ROUTES
from .transport import Transport, api_path
from .wire import (
    BuildInfo,
    DaemonInfo,
    ImageInfo,
    PortExposure,
    Project,
    SandboxInfo,
    SnapshotInfo,
    Token,
    from_wire,
)

_BUILD_EVENTS = {"build", "step", "log", "step_done", "done"}


class SandboxClient:
    """A connection to one sbxd; arguments win over SBX_* variables, which win over the config file's context."""

    def __init__(
        self,
        host: str | None = None,
        token: str | None = None,
        project: str | None = None,
        env: Mapping[str, str] | None = None,
        *,
        ca: str | None = None,
        context: str | None = None,
    ) -> None:
        self.transport = Transport(host=host, token=token, project=project, env=env, ca=ca, context=context)

    @property
    def config(self) -> Any:
        return self.transport.config

    def info(self) -> DaemonInfo:
        return from_wire(DaemonInfo, self.transport.json("GET", ROUTES["info"]))

    def list(self, all: bool = False) -> list[SandboxInfo]:
        res = self.transport.json("GET", ROUTES["sandboxes"], query={"all": all})
        return [from_wire(SandboxInfo, s) for s in res["sandboxes"]]

    def get(self, id_or_name: str) -> SandboxInfo:
        return from_wire(
            SandboxInfo,
            self.transport.json("GET", api_path(ROUTES["sandbox"], id=id_or_name)),
        )

    def create(self, request: dict[str, Any]) -> SandboxInfo:
        """``POST /v1/sandboxes`` with a wire request (camelCase); blocks until the sandbox runs."""
        return from_wire(
            SandboxInfo,
            self.transport.json("POST", ROUTES["sandboxes"], json_body=request),
        )

    def terminate(self, id_or_name: str) -> SandboxInfo:
        return from_wire(
            SandboxInfo,
            self.transport.json("DELETE", api_path(ROUTES["sandbox"], id=id_or_name)),
        )

    def update_network(
        self,
        id_or_name: str,
        allow_out: builtins.list[str] | None = None,
        deny_out: builtins.list[str] | None = None,
    ) -> SandboxInfo:
        body: dict[str, Any] = {}
        if allow_out is not None:
            body["allowOut"] = allow_out
        if deny_out is not None:
            body["denyOut"] = deny_out
        path = api_path(ROUTES["sandboxNetwork"], id=id_or_name)
        return from_wire(SandboxInfo, self.transport.json("PATCH", path, json_body=body))

    def expose_port(self, id_or_name: str, port: int, public: bool = False) -> PortExposure:
        path = api_path(ROUTES["port"], id=id_or_name, port=port)
        return from_wire(
            PortExposure,
            self.transport.json("POST", path, json_body={"public": public}),
        )

    def list_ports(self, id_or_name: str) -> builtins.list[PortExposure]:
        res = self.transport.json("GET", api_path(ROUTES["ports"], id=id_or_name))
        return [from_wire(PortExposure, p) for p in res["ports"]]

    def close_port(self, id_or_name: str, port: int) -> PortExposure:
        path = api_path(ROUTES["port"], id=id_or_name, port=port)
        return from_wire(PortExposure, self.transport.json("DELETE", path))

    # --- images and builds --------------------------------------------------------------------

    def list_images(self) -> builtins.list[ImageInfo]:
        return [from_wire(ImageInfo, i) for i in self.transport.json("GET", ROUTES["images"])["images"]]

    def get_image(self, name: str) -> ImageInfo:
        return from_wire(ImageInfo, self.transport.json("GET", api_path(ROUTES["image"], name=name)))

    def delete_image(self, name: str) -> ImageInfo:
        return from_wire(
            ImageInfo,
            self.transport.json("DELETE", api_path(ROUTES["image"], name=name)),
        )

    def register_image(self, ref: str, snapshot_id: str, replace: bool = False) -> ImageInfo:
        """Registers a snapshot as a named image of the project (``name`` or ``name:tag``)."""
        name, _, tag = ref.rpartition(":") if ":" in ref else (ref, "", "")
        body: dict[str, Any] = {"name": name or ref, "snapshotId": snapshot_id}
        if tag:
            body["tag"] = tag
        if replace:
            body["replace"] = True
        return from_wire(ImageInfo, self.transport.json("POST", ROUTES["images"], json_body=body))

    def has_context(self, digest: str) -> bool:
        try:
            self.transport.empty("HEAD", api_path(ROUTES["context"], digest=digest))
            return True
        except SbxError as err:
            if err.status == 404:
                return False
            raise

    def upload_context(self, digest: str, tar: IO[bytes]) -> dict[str, Any]:
        path = api_path(ROUTES["context"], digest=digest)
        result: dict[str, Any] = self.transport.json("PUT", path, body=tar, content_type="application/x-tar")
        return result

    def create_build(self, request: dict[str, Any]) -> BuildInfo:
        return from_wire(BuildInfo, self.transport.json("POST", ROUTES["builds"], json_body=request))

    def list_builds(self) -> builtins.list[BuildInfo]:
        return [from_wire(BuildInfo, b) for b in self.transport.json("GET", ROUTES["builds"])["builds"]]

    def get_build(self, build_id: str) -> BuildInfo:
        return from_wire(
            BuildInfo,
            self.transport.json("GET", api_path(ROUTES["build"], id=build_id)),
        )

    def cancel_build(self, build_id: str) -> BuildInfo:
        return from_wire(
            BuildInfo,
            self.transport.json("DELETE", api_path(ROUTES["build"], id=build_id)),
        )

    def build_events(self, build_id: str, follow: bool = False) -> Iterator[dict[str, Any]]:
        """A build's events (wire dicts) from its start; with ``follow``, until the ``done`` event."""
        res = self.transport.send(
            "GET",
            api_path(ROUTES["buildEvents"], id=build_id),
            query={"follow": follow},
        )
        for ev in res.iter_ndjson():
            if isinstance(ev, dict) and ev.get("type") in _BUILD_EVENTS:
                yield ev

    # --- snapshots, projects, tokens ----------------------------------------------------------

    def list_snapshots(self) -> builtins.list[SnapshotInfo]:
        return [from_wire(SnapshotInfo, s) for s in self.transport.json("GET", ROUTES["snapshots"])["snapshots"]]

    def get_snapshot(self, snapshot_id: str) -> SnapshotInfo:
        return from_wire(
            SnapshotInfo,
            self.transport.json("GET", api_path(ROUTES["snapshot"], id=snapshot_id)),
        )

    def delete_snapshot(self, snapshot_id: str) -> SnapshotInfo:
        return from_wire(
            SnapshotInfo,
            self.transport.json("DELETE", api_path(ROUTES["snapshot"], id=snapshot_id)),
        )

    def list_projects(self) -> builtins.list[Project]:
        return [from_wire(Project, p) for p in self.transport.json("GET", ROUTES["projects"])["projects"]]

    def create_project(self, name: str) -> Project:
        return from_wire(
            Project,
            self.transport.json("POST", ROUTES["projects"], json_body={"name": name}),
        )

    def create_volume(self, name: str, size_mb: int | None = None) -> dict[str, Any]:
        """Creates a volume of the project (a persistent directory capped at ``size_mb``, default 1024)."""
        body: dict[str, Any] = {"name": name}
        if size_mb is not None:
            body["sizeMb"] = size_mb
        return cast(dict[str, Any], self.transport.json("POST", ROUTES["volumes"], json_body=body))

    def list_volumes(self) -> builtins.list[dict[str, Any]]:
        """The project's volumes with ``usedBytes`` and ``mountedBy`` (the sandboxes holding them)."""
        return cast(builtins.list[dict[str, Any]], self.transport.json("GET", ROUTES["volumes"])["volumes"])

    def delete_volume(self, name: str) -> dict[str, Any]:
        """Removes a volume and its files; ``volume_in_use`` while a sandbox holds it."""
        return cast(dict[str, Any], self.transport.json("DELETE", api_path(ROUTES["volume"], name=name)))

    def create_token(self, project: str) -> Token:
        """Mints a token for TCP access to ``project``; the secret is in the answer once."""
        return from_wire(
            Token,
            self.transport.json("POST", api_path(ROUTES["projectTokens"], name=project)),
        )

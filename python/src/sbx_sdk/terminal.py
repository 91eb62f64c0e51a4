"""Terminals (a program on a pseudo-terminal in a sandbox) and TCP tunnels to sandbox ports, over
the daemon's WebSocket endpoints: a terminal's output is an iterator of byte chunks, keystrokes
go in with write(), resize() sends the window size, wait() answers the exit code; a tunnel is a
byte pipe with send()/recv()."""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .errors import SbxError
from .routes import ROUTES
from .transport import api_path
from .websocket import BINARY, UpgradeRefused, WebSocket

if TYPE_CHECKING:
    from .transport import Transport

#: What a refused upgrade (a bare status, no body) means for a tunnel, as the TypeScript SDK reads it.
_UPGRADE_CODES = {
    400: "invalid_argument",
    401: "unauthenticated",
    403: "permission_denied",
    404: "sandbox_not_found",
    409: "sandbox_not_running",
    412: "failed_precondition",
    502: "upstream_unreachable",
    503: "daemon_unavailable",
}


class Terminal:
    def __init__(self, transport: Transport, sandbox_id: str, terminal_id: str, ws: WebSocket) -> None:
        self._t = transport
        self._ws = ws
        self.sandbox_id = sandbox_id
        self.id = terminal_id
        self.exit_code: int | None = None
        self._error: str | None = None
        self._detached = False

    @classmethod
    def attach(cls, transport: Transport, sandbox_id: str, terminal_id: str) -> Terminal:
        """Connects to a terminal; output since the daemon's scrollback began comes first."""
        path = api_path(ROUTES["terminalAttach"], id=sandbox_id, tid=terminal_id)
        try:
            ws = WebSocket.open(transport, path)
        except UpgradeRefused as refused:
            # The refusal has no body: asking for the terminal itself gives the coded error.
            transport.json("GET", api_path(ROUTES["terminal"], id=sandbox_id, tid=terminal_id))
            raise SbxError(
                _UPGRADE_CODES.get(refused.status, "internal"),
                f"cannot attach to terminal {terminal_id}: HTTP {refused.status}",
            ) from None
        return cls(transport, sandbox_id, terminal_id, ws)

    def __enter__(self) -> Terminal:
        return self

    def __exit__(
        self,
        t: type[BaseException] | None,
        e: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self._ws.closed:
            self.detach()

    def write(self, data: str | bytes) -> None:
        """Sends keystrokes (or any bytes) to the program."""
        if not self._ws.closed:
            self._ws.send_binary(data.encode() if isinstance(data, str) else bytes(data))

    def resize(self, cols: int, rows: int) -> None:
        """Tells the program the window is now cols x rows (it gets SIGWINCH)."""
        if not self._ws.closed:
            self._ws.send_text(json.dumps({"type": "resize", "cols": cols, "rows": rows}))

    def __iter__(self) -> Iterator[bytes]:
        """Output as it comes (raw bytes), until the program ends or this client detaches."""
        while True:
            msg = self._ws.recv()
            if msg is None:
                return
            kind, payload = msg
            if kind == BINARY:
                if payload:
                    yield payload
                continue
            try:
                event: Any = json.loads(payload)
            except ValueError:
                continue
            if isinstance(event, dict) and event.get("type") == "exit":
                self.exit_code = int(event.get("exitCode") or 0)
            elif isinstance(event, dict) and event.get("type") == "error":
                self._error = str((event.get("error") or {}).get("message") or "terminal error")

    def wait(self) -> int:
        """Reads to the end and answers the program's exit code (output not read yet is dropped)."""
        for _ in self:
            pass
        if self.exit_code is not None:
            return self.exit_code
        if self._detached:
            raise SbxError(
                "failed_precondition",
                f"detached from terminal {self.id}; it keeps running: attach again",
            )
        why = self._error or self._ws.close_reason or f"connection closed ({self._ws.close_code})"
        raise SbxError(
            "daemon_unavailable",
            f"lost terminal {self.id} before it exited: {why}; attach again to go on",
        )

    def detach(self) -> None:
        """Leaves the terminal running (attach again with ``sandbox.attach_terminal(id)``)."""
        self._detached = True
        self._ws.close(1000, "detached")

    def info(self) -> dict[str, Any]:
        info: dict[str, Any] = self._t.json("GET", api_path(ROUTES["terminal"], id=self.sandbox_id, tid=self.id))
        return info

    def kill(self) -> dict[str, Any]:
        """Kills the program (SIGKILL); answers once it has ended."""
        info: dict[str, Any] = self._t.json("DELETE", api_path(ROUTES["terminal"], id=self.sandbox_id, tid=self.id))
        return info


class PortConnection:
    """A TCP connection to a port inside a sandbox, through the daemon (works over TCP hosts too)."""

    def __init__(self, ws: WebSocket) -> None:
        self._ws = ws

    @classmethod
    def open(cls, transport: Transport, sandbox_id: str, port: int) -> PortConnection:
        if not isinstance(port, int) or not 1 <= port <= 65535:
            raise SbxError("out_of_range", f"port {port} is not a TCP port: use 1..65535")
        try:
            ws = WebSocket.open(transport, api_path(ROUTES["portConnect"], id=sandbox_id, port=port))
        except UpgradeRefused as refused:
            code = _UPGRADE_CODES.get(refused.status, "internal")
            why = {
                "sandbox_not_found": f"sandbox {sandbox_id} does not exist in this project",
                "sandbox_not_running": f"sandbox {sandbox_id} is not running",
                "upstream_unreachable": f"nothing answers on port {port} of sandbox {sandbox_id}: start a server"
                f" listening on 0.0.0.0:{port} inside it",
                "failed_precondition": f"sandbox {sandbox_id} has no network, so its ports cannot be reached",
            }.get(code, f"sbxd answered HTTP {refused.status}")
            raise SbxError(
                code,
                f"cannot connect to port {port} of sandbox {sandbox_id}: {why}",
                {"status": refused.status},
            ) from None
        return cls(ws)

    def __enter__(self) -> PortConnection:
        return self

    def __exit__(
        self,
        t: type[BaseException] | None,
        e: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def send(self, data: bytes) -> None:
        self._ws.send_binary(data)

    def recv(self) -> bytes:
        """The next bytes from the port; ``b""`` once the connection has ended."""
        while True:
            msg = self._ws.recv()
            if msg is None:
                return b""
            if msg[0] == BINARY and msg[1]:
                return msg[1]

    def close(self) -> None:
        self._ws.close()

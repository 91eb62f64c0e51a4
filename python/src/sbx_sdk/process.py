"""Processes inside a sandbox: the output events of the daemon's NDJSON streams (base64 chunks,
the exit), the CommandResult of a finished command, and SandboxProcess, the handle of a process
started in the background (streamed output as an iterator, wait, signals, stdin)."""

from __future__ import annotations

import base64
import codecs
import signal as _signal
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from .errors import SbxError
from .routes import ROUTES
from .transport import api_path
from .wire import ProcessInfo, from_wire

if TYPE_CHECKING:
    from .transport import Transport


@dataclass(frozen=True)
class OutputChunk:
    """A piece of a process's stdout or stderr, as bytes."""

    stream: Literal["stdout", "stderr"]
    data: bytes


@dataclass(frozen=True)
class Exit:
    """The end of a process: its exit code, or the signal that killed it."""

    exit_code: int | None
    signal: str | None
    timed_out: bool


@dataclass(frozen=True)
class Started:
    process: ProcessInfo


ProcessEvent = Started | OutputChunk | Exit


@dataclass(frozen=True)
class CommandResult:
    #: The exit status; for a process killed by a signal, 128 + the signal number (shell convention).
    exit_code: int
    stdout: str
    stderr: str
    #: The signal that killed the process (``SIGKILL``, ...), if any.
    signal: str | None = None
    #: True when the process hit its ``timeout`` and was killed.
    timed_out: bool = False


def decode_events(values: Iterable[Any]) -> Iterator[ProcessEvent]:
    """NDJSON values as typed events; unknown event types are skipped (newer daemons stay compatible)."""
    for ev in values:
        if not isinstance(ev, dict):
            continue
        kind = ev.get("type")
        if kind in ("stdout", "stderr"):
            data = ev.get("data")
            yield OutputChunk(kind, base64.b64decode(data) if isinstance(data, str) else b"")
        elif kind == "exit":
            code = ev.get("exitCode")
            sig = ev.get("signal")
            yield Exit(
                code if isinstance(code, int) else None,
                sig if isinstance(sig, str) else None,
                ev.get("timedOut") is True,
            )
        elif kind == "started" and isinstance(ev.get("process"), dict):
            yield Started(from_wire(ProcessInfo, ev["process"]))


def signal_number(name: str) -> int | None:
    key = name.upper() if name.upper().startswith("SIG") else "SIG" + name.upper()
    try:
        return int(_signal.Signals[key])
    except KeyError:
        return None


def signal_name(sig: str | int) -> str:
    """``"SIGTERM"`` for ``15``, ``"TERM"``, ``"sigterm"`` or ``signal.SIGTERM``."""
    if isinstance(sig, int):
        try:
            return _signal.Signals(sig).name
        except ValueError:
            raise SbxError("invalid_argument", f"unknown signal number {sig}") from None
    upper = sig.upper()
    return upper if upper.startswith("SIG") else "SIG" + upper


def exit_status(ev: Exit) -> int:
    if ev.exit_code is not None:
        return ev.exit_code
    num = signal_number(ev.signal) if ev.signal else None
    return 128 + num if num is not None else -1


def collect_result(
    events: Iterable[ProcessEvent],
    on_stdout: Callable[[str], None] | None = None,
    on_stderr: Callable[[str], None] | None = None,
    what: str = "the process",
) -> CommandResult:
    """Drains events into a CommandResult, feeding the callbacks as output arrives (UTF-8, never split)."""
    out = codecs.getincrementaldecoder("utf-8")("replace")
    err = codecs.getincrementaldecoder("utf-8")("replace")
    stdout: list[str] = []
    stderr: list[str] = []
    for ev in events:
        if isinstance(ev, OutputChunk):
            dec, acc, cb = (out, stdout, on_stdout) if ev.stream == "stdout" else (err, stderr, on_stderr)
            text = dec.decode(ev.data)
            acc.append(text)
            if text and cb:
                cb(text)
        elif isinstance(ev, Exit):
            for dec, acc, cb in ((out, stdout, on_stdout), (err, stderr, on_stderr)):
                rest = dec.decode(b"", final=True)
                acc.append(rest)
                if rest and cb:
                    cb(rest)
            return CommandResult(
                exit_status(ev),
                "".join(stdout),
                "".join(stderr),
                ev.signal,
                ev.timed_out,
            )
    raise SbxError(
        "internal",
        f"the output stream of {what} ended before it exited (connection to sbxd lost?)",
    )


class SandboxProcess:
    """A process started in the background with ``sandbox.start_process``."""

    def __init__(self, transport: Transport, sandbox_id: str, info: ProcessInfo) -> None:
        self._transport = transport
        self.sandbox_id = sandbox_id
        self.id = info.id
        self.last_info = info

    def _path(self, route: str = "process") -> str:
        return api_path(ROUTES[route], id=self.sandbox_id, pid=self.id)

    def info(self) -> ProcessInfo:
        self.last_info = from_wire(ProcessInfo, self._transport.json("GET", self._path()))
        return self.last_info

    def output(self, follow: bool = True) -> Iterator[OutputChunk | Exit]:
        """Output from the start as it arrives (with ``follow``, until the exit event, which comes last)."""
        res = self._transport.send("GET", self._path("processOutput"), query={"follow": follow})
        for ev in decode_events(res.iter_ndjson()):
            if not isinstance(ev, Started):
                yield ev

    def stdout_lines(self) -> Iterator[str]:
        """Lines of stdout (without the newline) as the process prints them, until it exits."""
        dec = codecs.getincrementaldecoder("utf-8")("replace")
        pending = ""
        for ev in self.output(follow=True):
            if isinstance(ev, OutputChunk) and ev.stream == "stdout":
                pending += dec.decode(ev.data)
                *lines, pending = pending.split("\n")
                yield from lines
        pending += dec.decode(b"", final=True)
        if pending:
            yield pending

    def wait(
        self,
        on_stdout: Callable[[str], None] | None = None,
        on_stderr: Callable[[str], None] | None = None,
    ) -> CommandResult:
        """Waits for the exit; the result holds all output (also what was printed before the call)."""
        return collect_result(self.output(follow=True), on_stdout, on_stderr, f"process {self.id}")

    def signal(self, sig: str | int = "SIGTERM") -> ProcessInfo:
        body = {"signal": signal_name(sig)}
        self.last_info = from_wire(
            ProcessInfo,
            self._transport.json("POST", self._path("processSignal"), json_body=body),
        )
        return self.last_info

    def kill(self) -> ProcessInfo:
        return self.signal("SIGKILL")

    def write_stdin(self, data: str | bytes) -> None:
        """Needs the process to have been started with ``stdin=True``."""
        payload = data.encode() if isinstance(data, str) else bytes(data)
        self._transport.empty("POST", self._path("processStdin"), body=payload)

    def close_stdin(self) -> None:
        """Sends EOF."""
        self._transport.empty("DELETE", self._path("processStdin"))

"""The asyncio face of the SDK, kept small on purpose: every call runs the synchronous SDK in a
worker thread (``asyncio.to_thread``), so coroutines in one event loop drive many sandboxes at once
without a second HTTP stack. Streams (process output, build events) arrive as async iterators."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from types import TracebackType
from typing import Any, TypeVar

from .client import SandboxClient
from .process import CommandResult, Exit, OutputChunk, SandboxProcess
from .sandbox import Sandbox
from .wire import DirectoryListing, ProcessInfo, SandboxInfo, SnapshotInfo

T = TypeVar("T")


async def _iterate(make: Callable[[], Iterator[T]]) -> AsyncIterator[T]:
    """Pulls a blocking iterator in a worker thread, one item at a time."""
    it = await asyncio.to_thread(make)

    def step() -> tuple[bool, T | None]:
        for item in it:
            return True, item
        return False, None

    while True:
        more, item = await asyncio.to_thread(step)
        if not more:
            return
        yield item  # type: ignore[misc]


class AsyncSandboxProcess:
    def __init__(self, process: SandboxProcess) -> None:
        self.sync = process
        self.id = process.id

    def output(self, follow: bool = True) -> AsyncIterator[OutputChunk | Exit]:
        return _iterate(lambda: self.sync.output(follow))

    def stdout_lines(self) -> AsyncIterator[str]:
        return _iterate(self.sync.stdout_lines)

    async def wait(self) -> CommandResult:
        return await asyncio.to_thread(self.sync.wait)

    async def signal(self, sig: str | int = "SIGTERM") -> ProcessInfo:
        return await asyncio.to_thread(self.sync.signal, sig)

    async def kill(self) -> ProcessInfo:
        return await asyncio.to_thread(self.sync.kill)

    async def write_stdin(self, data: str | bytes) -> None:
        await asyncio.to_thread(self.sync.write_stdin, data)

    async def close_stdin(self) -> None:
        await asyncio.to_thread(self.sync.close_stdin)


class AsyncSandbox:
    """``async with await AsyncSandbox.create(...) as sb:`` terminates the sandbox on the way out."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sync = sandbox
        self.id = sandbox.id

    @classmethod
    async def create(cls, image: str | None = None, **options: Any) -> AsyncSandbox:
        """The keyword arguments of ``Sandbox.create``."""
        return cls(await asyncio.to_thread(lambda: Sandbox.create(image, **options)))

    @classmethod
    async def connect(cls, id_or_name: str, client: SandboxClient | None = None) -> AsyncSandbox:
        return cls(await asyncio.to_thread(Sandbox.connect, id_or_name, client))

    async def __aenter__(self) -> AsyncSandbox:
        return self

    async def __aexit__(
        self,
        t: type[BaseException] | None,
        e: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.terminate()

    async def info(self) -> SandboxInfo:
        return await asyncio.to_thread(self.sync.info)

    async def terminate(self) -> SandboxInfo:
        return await asyncio.to_thread(self.sync.terminate)

    async def run(self, command: str, args: list[str] | None = None, **options: Any) -> CommandResult:
        """The keyword arguments of ``Sandbox.run``."""
        return await asyncio.to_thread(lambda: self.sync.run(command, args, **options))

    async def start_process(self, command: str, args: list[str] | None = None, **options: Any) -> AsyncSandboxProcess:
        return AsyncSandboxProcess(await asyncio.to_thread(lambda: self.sync.start_process(command, args, **options)))

    async def read_file(self, path: str) -> bytes:
        return await asyncio.to_thread(self.sync.read_file, path)

    async def write_file(self, path: str, data: str | bytes) -> None:
        await asyncio.to_thread(self.sync.write_file, path, data)

    async def list_directory(self, path: str) -> DirectoryListing:
        return await asyncio.to_thread(self.sync.list_directory, path)

    async def delete_file(self, path: str, recursive: bool = False) -> None:
        await asyncio.to_thread(self.sync.delete_file, path, recursive)

    async def upload_directory(self, local_dir: str, remote_dir: str) -> None:
        await asyncio.to_thread(self.sync.upload_directory, local_dir, remote_dir)

    async def download_directory(self, remote_path: str, local_dir: str) -> None:
        await asyncio.to_thread(self.sync.download_directory, remote_path, local_dir)

    async def snapshot(self, type: str | None = None) -> SnapshotInfo:
        return await asyncio.to_thread(self.sync.snapshot, type)

    async def copy(self, times: int = 1) -> list[AsyncSandbox]:
        return [AsyncSandbox(s) for s in await asyncio.to_thread(self.sync.copy, times)]

    async def suspend(self) -> SandboxInfo:
        return await asyncio.to_thread(self.sync.suspend)

    async def resume(self) -> SandboxInfo:
        return await asyncio.to_thread(self.sync.resume)

    async def update_network(
        self, allow_out: list[str] | None = None, deny_out: list[str] | None = None
    ) -> SandboxInfo:
        return await asyncio.to_thread(self.sync.update_network, allow_out, deny_out)


__all__ = ["AsyncSandbox", "AsyncSandboxProcess"]

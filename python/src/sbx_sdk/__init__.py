"""sbx_sdk: the Python SDK of sbx (self-hosted sandboxes for AI agents). Pure standard library.

    from sbx_sdk import Sandbox, Image, function, SbxError
"""

from .client import SandboxClient
from .config import DEFAULT_HOST, DEFAULT_PROJECT, ResolvedConfig, resolve_config
from .errors import ERROR_CODES, SbxError
from .file_path import entry_path
from .function import FunctionMeta, function, image_of
from .image import Image
from .process import CommandResult, Exit, OutputChunk, SandboxProcess, Started
from .sandbox import Sandbox
from .terminal import PortConnection, Terminal
from .wire import (
    BuildInfo,
    DaemonInfo,
    DirectoryListing,
    FileInfo,
    ImageInfo,
    PortExposure,
    ProcessInfo,
    Project,
    SandboxInfo,
    SnapshotInfo,
    Token,
)

__version__ = "0.1.0"

__all__ = [
    "BuildInfo",
    "CommandResult",
    "DEFAULT_HOST",
    "DEFAULT_PROJECT",
    "DaemonInfo",
    "DirectoryListing",
    "ERROR_CODES",
    "Exit",
    "FileInfo",
    "FunctionMeta",
    "Image",
    "ImageInfo",
    "OutputChunk",
    "PortConnection",
    "PortExposure",
    "ProcessInfo",
    "Project",
    "ResolvedConfig",
    "Sandbox",
    "SandboxClient",
    "SandboxInfo",
    "SandboxProcess",
    "SbxError",
    "SnapshotInfo",
    "Started",
    "Terminal",
    "Token",
    "entry_path",
    "function",
    "image_of",
    "resolve_config",
]

"""A small WebSocket client (RFC 6455) on the standard library, for the daemon's two WebSocket
endpoints: terminals and TCP tunnels to sandbox ports. It speaks over the same unix socket or
TCP/TLS connection as the transport; frames from the client are masked, pings are answered,
fragmented messages are joined, and what the daemon sends is bounded."""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import struct
import threading
from urllib.parse import urlsplit

from .errors import SbxError
from .transport import Transport

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#: The largest message accepted from the daemon (terminal output and tunnel bytes come in far smaller pieces).
MAX_MESSAGE = 16 * 1024 * 1024

TEXT, BINARY, CLOSE, PING, PONG = 0x1, 0x2, 0x8, 0x9, 0xA


class UpgradeRefused(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"upgrade refused with HTTP {status}")
        self.status = status


class WebSocket:
    def __init__(self, sock: socket.socket, leftover: bytes) -> None:
        self._sock = sock
        self._buf = bytearray(leftover)
        self._send_lock = threading.Lock()
        self.closed = False
        self.close_code: int | None = None
        self.close_reason = ""

    @classmethod
    def open(cls, transport: Transport, path: str) -> WebSocket:
        """Connects and upgrades; raises UpgradeRefused with the status when the daemon says no."""
        cfg = transport.config
        try:
            if cfg.socket_path:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.connect(cfg.socket_path)
                host_header = "localhost"
            else:
                url = urlsplit(cfg.base_url)
                port = url.port or (443 if url.scheme == "https" else 80)
                sock = socket.create_connection((url.hostname or "localhost", port))
                if url.scheme == "https":
                    sock = transport.ssl_context().wrap_socket(sock, server_hostname=url.hostname)
                host_header = url.netloc
                path = url.path + path
        except OSError as err:
            raise transport.connection_error(err) from err
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: {host_header}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
            *(f"{k}: {v}" for k, v in transport.headers().items()),
        ]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk or len(data) > 64 * 1024:
                sock.close()
                raise SbxError(
                    "daemon_unavailable",
                    "sbxd closed the connection during the WebSocket handshake",
                )
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        parts = status_line.split(" ")
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        if status != 101:
            sock.close()
            raise UpgradeRefused(status)
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
        expected = base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()
        if headers.get("sec-websocket-accept") != expected:
            sock.close()
            raise SbxError(
                "internal",
                "sbxd answered the WebSocket handshake with a wrong Sec-WebSocket-Accept",
            )
        return cls(sock, rest)

    # --- sending ------------------------------------------------------------------------------

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        header = bytearray([0x80 | opcode])
        n = len(payload)
        if n < 126:
            header.append(0x80 | n)
        elif n < 1 << 16:
            header.append(0x80 | 126)
            header += struct.pack("!H", n)
        else:
            header.append(0x80 | 127)
            header += struct.pack("!Q", n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload)) if n < 4096 else _mask_big(payload, mask)
        with self._send_lock:
            self._sock.sendall(bytes(header) + mask + masked)

    def send_binary(self, data: bytes) -> None:
        self._send_frame(BINARY, data)

    def send_text(self, text: str) -> None:
        self._send_frame(TEXT, text.encode())

    def close(self, code: int = 1000, reason: str = "") -> None:
        if not self.closed:
            try:
                self._send_frame(CLOSE, struct.pack("!H", code) + reason.encode())
            except OSError:
                pass
        self.closed = True
        try:
            self._sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def abort(self) -> None:
        self.closed = True
        self._sock.close()

    # --- receiving ----------------------------------------------------------------------------

    def _read(self, n: int) -> bytes | None:
        while len(self._buf) < n:
            try:
                chunk = self._sock.recv(max(65536, n - len(self._buf)))
            except OSError:
                chunk = b""
            if not chunk:
                return None
            self._buf += chunk
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def recv(self) -> tuple[int, bytes] | None:
        """The next message as (TEXT or BINARY, payload); None once the connection has closed."""
        message = bytearray()
        kind = 0
        while True:
            head = self._read(2)
            if head is None:
                self._ended()
                return None
            fin, opcode, n = head[0] & 0x80, head[0] & 0x0F, head[1] & 0x7F
            if n == 126:
                ext = self._read(2)
                n = struct.unpack("!H", ext)[0] if ext else 0
            elif n == 127:
                ext = self._read(8)
                n = struct.unpack("!Q", ext)[0] if ext else 0
            server_mask = self._read(4) if head[1] & 0x80 else None  # servers should not mask; if one does, unmask
            if n > MAX_MESSAGE or len(message) + n > MAX_MESSAGE:
                self.abort()
                raise SbxError(
                    "internal",
                    f"sbxd sent a WebSocket message over {MAX_MESSAGE} bytes",
                )
            payload = self._read(n) if n else b""
            if payload is None:
                self._ended()
                return None
            if server_mask and payload:
                payload = _mask_big(payload, server_mask)
            if opcode == PING:
                self._send_frame(PONG, payload)
                continue
            if opcode == PONG:
                continue
            if opcode == CLOSE:
                self.close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                self.close_reason = payload[2:].decode("utf-8", "replace")
                self.close(self.close_code if self.close_code not in (1005, 1006) else 1000)
                self._ended()
                return None
            if opcode in (TEXT, BINARY):
                kind = opcode
            message += payload
            if fin:
                return kind, bytes(message)

    def _ended(self) -> None:
        self.closed = True
        try:
            self._sock.close()
        except OSError:
            pass
        return None


def _mask_big(payload: bytes, mask: bytes) -> bytes:
    n = len(payload)
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    return (int.from_bytes(payload, "big") ^ key).to_bytes(n, "big")

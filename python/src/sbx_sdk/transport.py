"""HTTP transport: requests to sbxd over its unix socket or TCP (TLS for https), with the project
header and bearer token, and the mapping of error answers and connection failures to SbxError.
One connection per request (a unix socket connect costs microseconds); streamed answers (NDJSON,
tar) keep theirs until read to the end or closed. Everything above this module speaks in paths
and JSON."""

from __future__ import annotations

import errno
import http.client
import json
import socket
import ssl
from collections.abc import Iterable, Iterator, Mapping
from typing import IO, Any
from urllib.parse import quote, urlencode, urlsplit

from .config import ResolvedConfig, resolve_config
from .errors import SbxError, error_from_response, parse_error_body

Body = bytes | IO[bytes] | Iterable[bytes] | None
Query = Mapping[str, str | int | float | bool | None]

_UNREACHABLE = {
    errno.ENOENT,
    errno.ECONNREFUSED,
    errno.ECONNRESET,
    errno.EHOSTUNREACH,
    errno.ENETUNREACH,
    errno.ETIMEDOUT,
}


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float | None) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self._path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


class Response:
    """An answer with a 2xx status; read it whole, by lines, or by chunks, then it closes itself."""

    def __init__(self, conn: http.client.HTTPConnection, res: http.client.HTTPResponse) -> None:
        self._conn = conn
        self._res = res
        self.status = res.status
        self.headers = res.headers

    def read(self) -> bytes:
        try:
            return self._res.read()
        finally:
            self.close()

    def iter_chunks(self, size: int = 64 * 1024) -> Iterator[bytes]:
        try:
            while True:
                chunk = self._res.read1(size)
                if not chunk:
                    return
                yield chunk
        except (OSError, http.client.HTTPException) as err:
            raise SbxError("internal", f"the stream from sbxd broke off ({err}); see the sbxd log") from err
        finally:
            self.close()

    def iter_ndjson(self) -> Iterator[Any]:
        """One JSON value per line; an ``{"error": ...}`` line raises it."""
        try:
            while True:
                try:
                    line = self._res.readline()
                except (OSError, http.client.HTTPException) as err:
                    raise SbxError(
                        "internal",
                        f"the stream from sbxd broke off ({err}); see the sbxd log",
                    ) from err
                if not line:
                    return
                text = line.decode("utf-8", "replace").strip()
                if not text:
                    continue
                try:
                    value = json.loads(text)
                except ValueError:
                    raise SbxError("internal", f"sbxd sent a broken stream line: {text[:200]}") from None
                if isinstance(value, dict) and "error" in value:
                    failure = parse_error_body(value)
                    if failure:
                        raise failure
                yield value
        finally:
            self.close()

    def close(self) -> None:
        self._res.close()
        self._conn.close()


class Transport:
    def __init__(
        self,
        host: str | None = None,
        token: str | None = None,
        project: str | None = None,
        env: Mapping[str, str] | None = None,
        ca: str | None = None,
        context: str | None = None,
    ) -> None:
        self.config: ResolvedConfig = resolve_config(
            host=host, token=token, project=project, env=env, ca=ca, context=context
        )
        url = urlsplit(self.config.base_url)
        self._scheme = url.scheme
        self._netloc_host = url.hostname or "localhost"
        self._port = url.port
        self._prefix = url.path

    def _connection(self, timeout: float | None) -> http.client.HTTPConnection:
        if self.config.socket_path:
            return _UnixConnection(self.config.socket_path, timeout)
        if self._scheme == "https":
            return http.client.HTTPSConnection(
                self._netloc_host,
                self._port,
                timeout=timeout,
                context=self.ssl_context(),
            )
        return http.client.HTTPConnection(self._netloc_host, self._port, timeout=timeout)

    def ssl_context(self) -> ssl.SSLContext:
        """Verifies an https:// host with the configured CA(s), else the system's."""
        return ssl.create_default_context(cadata=self.config.ca) if self.config.ca else ssl.create_default_context()

    def headers(self) -> dict[str, str]:
        """Who is asking: the project when one was named, and the bearer token for a TCP daemon."""
        # Unnamed, a unix socket uses default and TCP the token's project; named, TCP refuses another.
        h = {"user-agent": "sbx-python-sdk/0.1.0"}
        if self.config.project_named:
            h["x-sbx-project"] = self.config.project
        if self.config.token:
            h["authorization"] = f"Bearer {self.config.token}"
        return h

    def send(
        self,
        method: str,
        path: str,
        *,
        query: Query | None = None,
        json_body: Any = None,
        body: Body = None,
        content_type: str | None = None,
        timeout: float | None = None,
    ) -> Response:
        """Sends a request; answers outside 2xx raise SbxError (their body is read)."""
        headers = {**self.headers(), "accept": "application/json"}
        data: Any = None
        chunked = False
        if json_body is not None:
            data = json.dumps(json_body).encode()
            headers["content-type"] = "application/json"
        elif body is not None:
            data = body
            headers["content-type"] = content_type or "application/octet-stream"
            chunked = not isinstance(body, (bytes, bytearray))
        if isinstance(data, (bytes, bytearray)):
            headers["content-length"] = str(len(data))
        elif data is None and method in ("POST", "PUT", "PATCH"):
            headers["content-length"] = "0"
        target = self._prefix + path + _query_string(query)
        conn = self._connection(timeout)
        try:
            conn.request(method, target, body=data, headers=headers, encode_chunked=chunked)
            res = conn.getresponse()
        except SbxError:
            conn.close()
            raise
        except (OSError, http.client.HTTPException) as err:
            conn.close()
            raise self.connection_error(err) from err
        if 200 <= res.status < 300:
            return Response(conn, res)
        try:
            payload = res.read()
        except (OSError, http.client.HTTPException):
            payload = b""
        finally:
            conn.close()
        raise error_from_response(res.status, payload)

    def json(self, method: str, path: str, **kw: Any) -> Any:
        text = self.send(method, path, **kw).read()
        try:
            return json.loads(text)
        except ValueError:
            raise SbxError(
                "internal",
                f"sbxd answered {method} {path} with something that is not JSON: {text[:200]!r}",
            ) from None

    def empty(self, method: str, path: str, **kw: Any) -> None:
        self.send(method, path, **kw).read()

    def connection_error(self, err: BaseException) -> SbxError:
        where = self.config.host
        code = getattr(err, "errno", None)
        if isinstance(err, PermissionError) or code in (errno.EACCES, errno.EPERM):
            return SbxError(
                "permission_denied",
                f"cannot open the sbxd socket {self.config.socket_path or where}: permission denied (it is"
                " root-only: run as root, or use host='http://HOST:PORT' with SBX_TOKEN)",
            )
        if code in _UNREACHABLE or isinstance(err, (ConnectionError, socket.gaierror, TimeoutError)):
            return SbxError(
                "daemon_unavailable",
                f"cannot reach sbxd at {where}: start it with `sbx daemon start`",
                {"cause": str(err)},
            )
        return SbxError("internal", f"request to sbxd at {where} failed: {err}")


def api_path(template: str, **params: str | int) -> str:
    """``/v1/sandboxes/{id}`` with each placeholder filled in and URL-encoded."""
    out = template
    for key, value in params.items():
        out = out.replace("{" + key + "}", quote(str(value), safe=""))
    if "{" in out:
        raise ValueError(f"api_path({template}): a placeholder has no value")
    return out


def _query_string(query: Query | None) -> str:
    if not query:
        return ""
    pairs = []
    for k, v in query.items():
        if v is None or v is False:
            continue
        pairs.append((k, "1" if v is True else str(v)))
    return "?" + urlencode(pairs) if pairs else ""

"""The two ways to reach recd, behind one ``call``: the Unix socket
(JSON lines, docs/protocol.md) and the HTTP API (``/v1/<method>``).

A transport sends one request at a time on one connection and returns the
reply's ``result`` JSON, hands progress objects to a callback, and raises
:class:`RecdError` for an error reply and :class:`TransportError` for
everything else. A connection the daemon closed while it was idle (its
``idle_timeout_secs``, a restart) is noticed on the next call, which is
then sent again once on a new connection; a call whose reply had begun is
never sent twice.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import threading
import urllib.parse
from dataclasses import dataclass
from typing import Any, BinaryIO, Callable, Dict, Optional

from .errors import PermissionDenied, RecdError, TransportError, Unauthorized, from_reply

ProgressCallback = Callable[[Dict[str, Any]], None]

_CHUNK = 64 * 1024


@dataclass
class Body:
    """Bytes that follow a request (``import``'s ratings file): ``size``
    of them, read from a fresh ``open()`` each time the call is sent."""

    size: int
    open: Callable[[], BinaryIO]


class _Stale(Exception):
    """A reused connection turned out closed before any of the reply came."""


class _Transport:
    """One call at a time on one connection, sent again once on a new one
    when the old turns out closed (``_Stale``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def call(
        self,
        method: str,
        params: Dict[str, Any],
        body: Optional[Body] = None,
        on_progress: Optional[ProgressCallback] = None,
    ) -> Any:
        with self._lock:
            try:
                return self._exchange(method, params, body, on_progress, self._is_open())
            except _Stale:
                return self._exchange(method, params, body, on_progress, False)

    def _is_open(self) -> bool:
        raise NotImplementedError

    def _exchange(self, method, params, body, on_progress, reused) -> Any:
        raise NotImplementedError


class UnixTransport(_Transport):
    """JSON lines on recd's Unix socket; ``timeout`` bounds connecting and
    each wait for the daemon's next bytes."""

    def __init__(self, path: str, timeout: Optional[float]):
        self.path = path
        self.timeout = timeout
        self._sock: Optional[socket.socket] = None
        self._reader: Optional[BinaryIO] = None
        self._next_id = 0
        super().__init__()

    def _is_open(self) -> bool:
        return self._sock is not None

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
        if self._sock is not None:
            self._sock.close()
        self._sock = self._reader = None

    def _connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        where = f"cannot reach recd at {self.path}"
        try:
            s.connect(self.path)
        except FileNotFoundError:
            s.close()
            raise TransportError(f"{where}: the daemon is not running (no socket)") from None
        except ConnectionRefusedError:
            s.close()
            raise TransportError(f"{where}: the daemon is not running (connection refused)") from None
        except PermissionError:
            s.close()
            raise TransportError(f"{where}: permission denied (join the socket's group)") from None
        except OSError as e:
            s.close()
            raise TransportError(f"{where}: {e}") from e
        self._sock, self._reader = s, s.makefile("rb")

    def _exchange(self, method, params, body, on_progress, reused) -> Any:
        if self._sock is None:
            self._connect()
        self._next_id += 1
        rid = self._next_id
        line = json.dumps({"id": rid, "method": method, "params": params})
        sent: Optional[Exception] = None
        try:
            self._sock.sendall(line.encode() + b"\n")
            if body is not None:
                sent = self._send_body(body)
        except OSError as e:
            # The daemon may have answered before it stopped reading (a
            # line too long, an import refused): that reply says more.
            sent = e
        done = False
        try:
            result = self._read_reply(rid, on_progress, reused)
            done = True
            return result
        except RecdError:
            done = True
            raise
        except _Stale:
            raise
        except OSError as e:
            if sent is not None and not isinstance(sent, OSError):
                raise sent from e
            raise TransportError(f"connection to recd lost: {sent or e}") from e
        finally:
            if not done:
                self.close()

    def _send_body(self, body: Body) -> Optional[Exception]:
        sent = 0
        with body.open() as f:
            while sent < body.size:
                chunk = f.read(min(_CHUNK, body.size - sent))
                if not chunk:
                    break
                self._sock.sendall(chunk)
                sent += len(chunk)
        if sent < body.size:
            # The daemon sees the bytes stop and answers once it gives up.
            self._sock.shutdown(socket.SHUT_WR)
            return TransportError(f"the input ended after {sent} of the {body.size} bytes announced")
        return None

    def _read_reply(self, rid: int, on_progress, reused: bool) -> Any:
        first = True
        while True:
            try:
                raw = self._reader.readline()
            except socket.timeout:
                raise TransportError(f"no reply from recd within {self.timeout} s") from None
            except (ConnectionResetError, BrokenPipeError):
                if first and reused:
                    self.close()
                    raise _Stale() from None
                raise
            if not raw:
                if first and reused:
                    self.close()
                    raise _Stale()
                raise OSError("the daemon closed the connection")
            first = False
            try:
                reply = json.loads(raw)
            except ValueError:
                raise TransportError(f"recd sent a line that is not JSON: {raw[:200]!r}") from None
            if not isinstance(reply, dict):
                raise TransportError(f"recd sent a line that is not a reply: {raw[:200]!r}")
            got = reply.get("id")
            if got is not None and got != rid:
                continue
            if "progress" in reply:
                if on_progress is not None:
                    on_progress(reply["progress"])
                continue
            if "error" in reply:
                if got is None:
                    # Unanswerable by id (a line too long, too many
                    # connections): the daemon closes this connection.
                    self.close()
                raise from_reply(reply["error"])
            if "result" in reply:
                return reply["result"]
            raise TransportError(f"recd sent a line that is not a reply: {raw[:200]!r}")


class HttpTransport(_Transport):
    """recd's HTTP API: ``POST /v1/<method with '.' as '/'>``, the params
    as a JSON body (or, for a call with bytes, in the query string)."""

    def __init__(
        self,
        base_url: str,
        token: Optional[str],
        cafile: Optional[str],
        timeout: Optional[float],
    ):
        url = urllib.parse.urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"not an http:// or https:// URL: {base_url!r}")
        self.base_url = base_url
        self.timeout = timeout
        self._https = url.scheme == "https"
        self._host = url.hostname
        self._port = url.port
        self._prefix = url.path.rstrip("/")
        self._token = token
        self._context = ssl.create_default_context(cafile=cafile) if self._https else None
        self._conn: Optional[http.client.HTTPConnection] = None
        super().__init__()

    def _is_open(self) -> bool:
        return self._conn is not None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = None

    def _request(self, method: str, params: Dict[str, Any], body: Optional[Body]):
        """The path and headers of a call."""
        path = f"{self._prefix}/v1/{method.replace('.', '/')}"
        headers = {"Accept": "application/json, application/x-ndjson"}
        if self._token is not None:
            headers["Authorization"] = f"Bearer {self._token}"
        if body is not None:
            query = {k: v for k, v in params.items() if k != "bytes" and v is not None}
            if query:
                path += "?" + urllib.parse.urlencode(query)
            headers["Content-Type"] = "application/octet-stream"
            headers["Content-Length"] = str(body.size)
        else:
            headers["Content-Type"] = "application/json"
        return path, headers

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self._https:
                self._conn = http.client.HTTPSConnection(
                    self._host, self._port, timeout=self.timeout,
                    context=self._context, blocksize=_CHUNK,
                )
            else:
                self._conn = http.client.HTTPConnection(
                    self._host, self._port, timeout=self.timeout, blocksize=_CHUNK
                )
        return self._conn

    def _exchange(self, method, params, body, on_progress, reused) -> Any:
        path, headers = self._request(method, params, body)
        conn = self._connection()
        done = False
        try:
            try:
                if body is not None:
                    with body.open() as f:
                        conn.request("POST", path, body=f, headers=headers)
                else:
                    conn.request("POST", path, body=json.dumps(params).encode(), headers=headers)
                response = conn.getresponse()
            except (
                http.client.RemoteDisconnected,
                BrokenPipeError,
                ConnectionResetError,
                # A kept-alive TLS connection the daemon closed while idle.
                ssl.SSLEOFError,
                ssl.SSLZeroReturnError,
            ):
                if reused:
                    raise _Stale() from None
                raise
            result = self._read(response, on_progress)
            done = not response.will_close
            return result
        except RecdError:
            done = True
            raise
        except ssl.SSLError as e:
            raise TransportError(f"TLS with {self.base_url} failed: {e}") from e
        except (OSError, http.client.HTTPException) as e:
            raise TransportError(f"HTTP request to {self.base_url} failed: {e}") from e
        finally:
            if not done:
                self.close()

    def _read(self, response: http.client.HTTPResponse, on_progress) -> Any:
        status = response.status
        kind = response.getheader("Content-Type", "").split(";")[0].strip()
        if 200 <= status < 300 and kind == "application/x-ndjson":
            return self._read_stream(response, on_progress)
        text = response.read()
        if 200 <= status < 300:
            if not text.strip():
                return None
            try:
                return json.loads(text)
            except ValueError:
                raise TransportError(f"HTTP {status}: the body is not JSON: {text[:200]!r}", status) from None
        try:
            error = json.loads(text)["error"]
        except (ValueError, KeyError, TypeError):
            error = None
        if error is not None:
            raise from_reply(error, status)
        message = text[:200].decode("utf-8", "replace").strip() or response.reason
        if status == 401:
            raise Unauthorized("unauthorized", message, None, status)
        if status == 403:
            raise PermissionDenied("permission_denied", message, None, status)
        raise TransportError(f"HTTP {status} from {self.base_url}: {message}", status)

    @staticmethod
    def _read_stream(response: http.client.HTTPResponse, on_progress) -> Any:
        for raw in response:
            if not raw.strip():
                continue
            try:
                line = json.loads(raw)
            except ValueError:
                raise TransportError(f"recd streamed a line that is not JSON: {raw[:200]!r}") from None
            if not isinstance(line, dict):
                raise TransportError(f"recd streamed a line that is not an object: {raw[:200]!r}")
            if "progress" in line:
                if on_progress is not None:
                    on_progress(line["progress"])
            elif "error" in line:
                response.read()
                raise from_reply(line["error"], response.status)
            elif "result" in line:
                response.read()
                return line["result"]
        raise TransportError("the stream ended before its result")

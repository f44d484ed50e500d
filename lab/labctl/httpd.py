"""What the lab's emulators share: TLS listeners that can be taken down and brought back,
a request handler with JSON helpers, a control socket, and the record of unemulated requests.

Product endpoints (the F5 devices, Jenkins) are HTTPS listeners with lab CA certificates on lab
addresses. Each emulator also has a *control socket*: HTTP over a Unix socket in the lab state
folder, which tests, the guest simulator and ``lab/load`` use to inspect the emulator and inject
faults. It is not a network endpoint, so nothing can mistake it for the product's API.
"""

from __future__ import annotations

import http.client
import json
import signal
import socket
import socketserver
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit


class Request:
    """One parsed request: method, percent-decoded path without a trailing slash, query, body."""

    def __init__(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        split = urlsplit(handler.path)
        self.method = handler.command
        self.raw_path = handler.path
        path = unquote(split.path)
        self.path = path.rstrip("/") or "/"
        self.query: dict[str, str] = {}
        self.query_list: list[tuple[str, str]] = parse_qsl(split.query, keep_blank_values=True)
        for key, value in self.query_list:
            self.query.setdefault(key, value)
        self.headers = handler.headers
        self.body = body

    def json(self):
        """The body as JSON (None when empty); ValueError when it is not JSON."""
        if not self.body.strip():
            return None
        return json.loads(self.body)


class Response:
    def __init__(
        self,
        status: int,
        body: bytes | str | dict | list | None = b"",
        content_type: str = "application/json;charset=utf-8",
        headers: dict[str, str] | None = None,
    ) -> None:
        if isinstance(body, (dict, list)):
            body = json.dumps(body, separators=(",", ":"))
        if isinstance(body, str):
            body = body.encode()
        self.status = status
        self.body = body or b""
        self.content_type = content_type
        self.headers = dict(headers or {})


class Handler(BaseHTTPRequestHandler):
    """Reads the request, hands it to ``server.app(request)`` and writes the Response back."""

    protocol_version = "HTTP/1.1"
    server_version = "lab"
    sys_version = ""

    def _handle(self) -> None:
        if getattr(self.server, "closed", False):  # taken down: drop kept-alive connections too
            self.close_connection = True
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Request(self, body)
        request.client = self.client_address[0] if self.client_address else "local"
        try:
            response = self.server.app(request)
        except Exception as exc:  # noqa: BLE001 - an emulator bug must be visible, not a hang
            self.server.log(f"handler error on {request.method} {request.raw_path}: {exc!r}")
            response = Response(500, {"message": f"lab emulator error: {exc!r}"})
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for key, value in response.headers.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

    def version_string(self) -> str:
        return getattr(self.server, "server_header", "lab")

    def log_message(self, format: str, *args) -> None:
        self.server.log(f"{self.command} {self.path} -> {args[1] if len(args) > 1 else ''}")


class _TLSServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class Listener:
    """An HTTPS listener on one address that can be closed (connection refused) and reopened."""

    def __init__(self, name: str, address: str, port: int, *, cert: str, key: str, app, server_header: str) -> None:
        self.name = name
        self.address = address
        self.port = port
        self.app = app
        self.server_header = server_header
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self._server: _TLSServer | None = None
        self._lock = threading.Lock()

    @property
    def up(self) -> bool:
        return self._server is not None

    def start(self) -> None:
        with self._lock:
            if self._server is not None:
                return
            server = _TLSServer((self.address, self.port), Handler, bind_and_activate=False)
            server.socket = self.context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
            server.server_bind()
            server.server_activate()
            server.app = self.app
            server.log = lambda msg: log(f"{self.name}: {msg}")
            server.server_header = self.server_header
            threading.Thread(target=server.serve_forever, name=f"listener-{self.name}", daemon=True).start()
            self._server = server

    def stop(self) -> None:
        with self._lock:
            server, self._server = self._server, None
        if server is not None:
            server.closed = True
            server.shutdown()
            server.server_close()


def serve_control(socket_path: Path, app) -> _UnixServer:
    """Serve ``app`` over HTTP on a Unix socket (mode 0600) in a background thread."""
    socket_path.parent.mkdir(parents=True, exist_ok=True)
    socket_path.unlink(missing_ok=True)
    server = _UnixServer(str(socket_path), Handler)
    socket_path.chmod(0o600)
    server.app = app
    server.log = lambda msg: None  # control traffic would drown the product traffic in the log
    server.server_header = "lab-control"
    threading.Thread(target=server.serve_forever, name="control", daemon=True).start()
    return server


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._socket_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._socket_path)


class ControlError(RuntimeError):
    """The control socket answered with an error, or is not there (the emulator is not running)."""


def control(socket_path: Path | str, method: str, path: str, body=None, timeout: float = 10.0):
    """Call an emulator's control socket; return the decoded JSON answer."""
    connection = _UnixConnection(str(socket_path), timeout)
    try:
        payload = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        data = response.read()
    except OSError as exc:
        raise ControlError(f"control socket {socket_path}: {exc}") from exc
    finally:
        connection.close()
    answer = json.loads(data) if data else None
    if response.status >= 400:
        raise ControlError(f"{method} {path} on {socket_path}: {response.status} {answer}")
    return answer


class UnemulatedLog:
    """Requests an emulator could not answer faithfully, one JSON line each.

    An emulator that quietly answers 404 for a path it does not implement makes a client believe
    the object is absent; every such request is recorded here instead, and the test suite fails
    on any new line (tests/integration/conftest.py).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def record(self, where: str, method: str, path: str, why: str) -> None:
        entry = {"time": time.time(), "where": where, "method": method, "path": path, "why": why}
        log(f"UNEMULATED {where} {method} {path}: {why}")
        with self._lock, open(self.path, "a") as out:
            out.write(json.dumps(entry) + "\n")


def stop_event() -> threading.Event:
    """An event that SIGTERM (the lab's stop) or SIGINT sets: an emulator's main waits on it."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    return stop


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)


def write_json_atomic(path: Path, data) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as out:
        json.dump(data, out, indent=1, sort_keys=True)
        out.flush()
    tmp.replace(path)

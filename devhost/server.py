"""The dev host: the Function app's own HTTP functions plus ``site/``, on a threaded server.

Stands in for Azure Functions Core Tools (``func start``), which cannot be installed offline.
It serves the SAME function objects registered on ``function_app.app`` at the same
``/<routePrefix>/<route>`` paths (routePrefix from host.json), builds an
``azure.functions.HttpRequest`` from each raw request, and writes the ``HttpResponse`` back
the way the Python worker does (same status, headers, body; ``Content-Type`` from the
mimetype). Like the Functions host it answers CORS preflight for ``ALLOWED_ORIGINS``,
returns 404 for unknown routes and unregistered methods, and refuses bodies over 100 MB.
"""

from __future__ import annotations

import contextlib
import json
import logging
import mimetypes
import os
import re
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import azure.functions as func

from isit import cors
from isit.http_errors import INTERNAL_ERROR_MESSAGE, error_body

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SITE_DIR = ROOT / "site"
HOST_MAX_REQUEST_BYTES = 100 * 1024 * 1024  # the Functions host's default request limit
READ_TIMEOUT_S = 30  # one read (socket timeout)
REQUEST_DEADLINE_S = 30.0  # the whole request line, headers and body, however sent
MAX_WORKERS = 32  # connections served at once; more are answered 503 and closed
_ASCII_DIGITS = re.compile(r"[0-9]{1,20}")
# Errors the HTTP machinery itself raises (BaseHTTPRequestHandler.send_error), as codes.
_OWN_ERROR_CODES = {
    400: "bad_request",
    408: "request_timeout",
    413: "too_large",
    414: "uri_too_long",
    431: "headers_too_large",
    501: "not_implemented",
    503: "busy",
    505: "http_version_not_supported",
}
# Explicit types: ES modules must be served as JavaScript, and the platform's mimetypes
# table (from /etc/mime.types) differs between machines.
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
    ".map": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".wasm": "application/wasm",
}

log = logging.getLogger("devhost")


@dataclass(frozen=True)
class Route:
    """One HTTP-triggered function of the app."""

    name: str
    template: str
    pattern: re.Pattern[str]
    methods: frozenset[str]
    arg_name: str
    call: Callable[..., Any]


def _route_pattern(prefix: str, template: str) -> re.Pattern[str]:
    """``/api/items/{id}`` style templates (constraints like ``{id:int}`` are ignored)."""
    parts = [p for p in (prefix.strip("/"), template.strip("/")) if p]
    regex = ""
    for segment in "/".join(parts).split("/"):
        names = re.fullmatch(r"\{(\w+)(?::[^}]*)?\??\}", segment)
        regex += f"/(?P<{names.group(1)}>[^/]+)" if names else "/" + re.escape(segment)
    return re.compile(f"^{regex or '/'}/?$", re.IGNORECASE)


def route_prefix(host_json: Path = ROOT / "host.json") -> str:
    """``extensions.http.routePrefix`` from host.json ("api" when absent, as in Azure)."""
    try:
        config = json.loads(host_json.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "api"
    return str(config.get("extensions", {}).get("http", {}).get("routePrefix", "api"))


_indexed: dict[int, list[Any]] = {}
_indexed_lock = threading.Lock()


def _functions_of(app: func.FunctionApp) -> list[Any]:
    # get_functions() may run only once per app (it records names to check uniqueness).
    with _indexed_lock:
        if id(app) not in _indexed:
            _indexed[id(app)] = app.get_functions()
        return _indexed[id(app)]


def load_routes(app: func.FunctionApp, prefix: str) -> list[Route]:
    """The HTTP functions registered on ``app`` (via ``get_functions()``)."""
    routes = []
    for function in _functions_of(app):
        trigger = function.get_trigger()
        if trigger is None or trigger.get_binding_name() != "httpTrigger":
            continue
        name = function.get_function_name()
        template = trigger.route or name
        methods = frozenset(
            str(getattr(m, "value", m)).upper() for m in (trigger.methods or ())
        ) or frozenset({"GET", "POST"})  # the host's default when methods are omitted
        routes.append(
            Route(
                name=name,
                template=template,
                pattern=_route_pattern(prefix, template),
                methods=methods,
                arg_name=trigger.name,
                call=function.get_user_function(),
            )
        )
    return routes


def _load_app() -> func.FunctionApp:
    import function_app  # an installed module (pip install -e .), beside devhost/

    return function_app.app


class Deadlines:
    """One watchdog for every connection's per-request deadline.

    A socket timeout bounds one read only: a client sending a header byte every few seconds
    never trips it. At the deadline the watchdog shuts the socket for reading, so the
    handler's pending read ends at once and it answers 408.
    """

    def __init__(self, tick: float = 0.25) -> None:
        self._lock = threading.Lock()
        self._due: dict[RequestHandler, float] = {}
        self._tick = tick
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()

    def arm(self, handler: RequestHandler, seconds: float) -> None:
        with self._lock:
            self._due[handler] = time.monotonic() + seconds
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True, name="deadlines")
                self._thread.start()

    def disarm(self, handler: RequestHandler) -> None:
        with self._lock:
            self._due.pop(handler, None)

    def stop(self) -> None:
        self._stopped.set()

    def _run(self) -> None:
        while not self._stopped.wait(self._tick):
            now = time.monotonic()
            with self._lock:
                late = [h for h, due in self._due.items() if due <= now]
                for handler in late:
                    del self._due[handler]
            for handler in late:
                handler.timed_out = True
                with contextlib.suppress(OSError):
                    handler.connection.shutdown(socket.SHUT_RD)


class DevHostServer(ThreadingHTTPServer):
    """A threaded server with at most ``max_workers`` connections served at once."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        routes: list[Route],
        prefix: str,
        site_dir: Path | None,
        quiet: bool,
        max_workers: int = MAX_WORKERS,
    ) -> None:
        self.routes = routes
        self.prefix = "/" + prefix.strip("/") if prefix.strip("/") else ""
        self.site_dir = site_dir.resolve() if site_dir else None
        self.quiet = quiet
        self.deadlines = Deadlines()
        self.request_deadline = REQUEST_DEADLINE_S
        self._slots = threading.BoundedSemaphore(max_workers)
        super().__init__(address, RequestHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self._refuse_busy(request)
            return
        worker = threading.Thread(target=self._work, args=(request, client_address), daemon=True)
        worker.start()

    def _work(self, request: Any, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def _refuse_busy(self, request: socket.socket) -> None:
        body = error_body("busy", "The dev host is busy; try again in a moment.").encode()
        head = (
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
            f"Retry-After: 1\r\nConnection: close\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        try:
            request.settimeout(1.0)
            request.sendall(head.encode("ascii") + body)
        except OSError:
            pass
        self.shutdown_request(request)

    def server_close(self) -> None:
        self.deadlines.stop()
        super().server_close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-reply is normal (a closed browser tab), not a fault.
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


class RequestHandler(BaseHTTPRequestHandler):
    server: DevHostServer
    protocol_version = "HTTP/1.1"
    server_version = "isit-devhost"
    timeout = READ_TIMEOUT_S
    timed_out = False

    def handle_one_request(self) -> None:
        self.server.deadlines.arm(self, self.server.request_deadline)
        try:
            super().handle_one_request()
        finally:
            self.server.deadlines.disarm(self)
        if self.timed_out:
            self.close_connection = True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The http.server's own errors (414, 431, 501, ...) as our JSON error body."""
        if self.timed_out:
            code, message = 408, "The request took too long to arrive."
        self.log_error("code %d, message %s", code, message)
        reason = message or self.responses.get(code, ("Error",))[0]
        self.close_connection = True
        if getattr(self, "request_version", "") not in ("HTTP/1.0", "HTTP/1.1"):
            # Unparsable request lines count as HTTP/0.9, which gets no status line at all.
            self.request_version = "HTTP/1.0"
        self._send_json_error(
            code, _OWN_ERROR_CODES.get(code, "bad_request"), f"{reason}.", close=True
        )

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without this, Nagle's algorithm and
        # the client's delayed ACK add ~40 ms to every keep-alive response.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    # ------------------------------------------------------------ dispatch

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = do_GET

    def _handle(self) -> None:
        if self.timed_out:  # the headers were cut off at the deadline
            self.send_error(408)
            return
        # The Functions host matches routes without regard to case, trailing slash included.
        path = unquote(urlsplit(self.path).path).lower()
        prefix = self.server.prefix.lower()
        is_api = prefix and (path == prefix or path.startswith(prefix + "/"))
        if is_api or not self.server.site_dir:
            self._api()
        else:
            self._static(path)

    def log_message(self, format: str, *args: Any) -> None:
        if not self.server.quiet:
            sys.stderr.write(f"{self.address_string()} {format % args}\n")

    # ------------------------------------------------------------ API

    def _headers_dict(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        return headers

    def _read_body(self) -> bytes | None:
        """The request body; None after answering 4xx for an unreadable, oversized or late
        one (a body cut off at the deadline is never handed to a function)."""
        body = self._read_body_in_time()
        if self.timed_out:
            if body is not None:
                self.send_error(408)
            self.close_connection = True
            return None
        return body

    def _read_body_in_time(self) -> bytes | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        raw = self.headers.get("Content-Length")
        if raw is None:
            return b""
        if not _ASCII_DIGITS.fullmatch(raw.strip()):  # isdigit() would accept "²"
            self._send_json_error(
                400, "bad_request", "The Content-Length header is invalid.", close=True
            )
            return None
        length = int(raw)
        if length > HOST_MAX_REQUEST_BYTES:
            self._send_json_error(
                413, "too_large", "The request body is larger than 100 MB.", close=True
            )
            return None
        body = self.rfile.read(length)
        if len(body) < length:
            self.close_connection = True
            if self.timed_out:
                return b""  # answered 408 by _read_body
            return None
        return body

    def _read_chunked(self) -> bytes | None:
        chunks, total = [], 0
        while True:
            line = self.rfile.readline(1024).split(b";", 1)[0].strip()
            try:
                size = int(line, 16)
                if size < 0:
                    raise ValueError(line)
            except ValueError:
                if self.timed_out:
                    return b""  # answered 408 by _read_body
                self._send_json_error(400, "bad_request", "Malformed chunked body.", close=True)
                return None
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailers
                    pass
                return b"".join(chunks)
            total += size
            if total > HOST_MAX_REQUEST_BYTES:
                self._send_json_error(
                    413, "too_large", "The request body is larger than 100 MB.", close=True
                )
                return None
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _api(self) -> None:
        split = urlsplit(self.path)
        path = unquote(split.path)
        headers = self._headers_dict()
        body = self._read_body()
        self.server.deadlines.disarm(self)  # the deadline is for receiving the request
        if body is None:
            return
        if cors.is_preflight(self.command, headers):
            # The Functions host answers preflight itself, before any function runs.
            self._send(204, cors.preflight_headers(headers), b"")
            return
        match = None
        route = None
        for candidate in self.server.routes:
            match = candidate.pattern.match(path)
            if match:
                route = candidate
                break
        if route is None or match is None or self.command not in route.methods:
            self._send_json_error(404, "not_found", f"There is no API at {split.path}.")
            return
        host = headers.get("Host") or "{}:{}".format(*self.server.server_address[:2])
        request = func.HttpRequest(
            method=self.command,
            url=f"http://{host}{self.path}",
            headers=headers,
            params=dict(parse_qsl(split.query, keep_blank_values=True)),
            route_params=match.groupdict(),
            body=body,
        )
        try:
            response = route.call(**{route.arg_name: request})
        except Exception:
            request_id = uuid.uuid4().hex
            log.exception("Function %s raised (request id %s)", route.name, request_id)
            self._send_json_error(
                500, "internal_error", INTERNAL_ERROR_MESSAGE, extra={"X-Request-Id": request_id}
            )
            return
        self._send_function_response(response, headers.get("Origin"))

    def _send_function_response(self, response: Any, origin: str | None) -> None:
        """Write an HttpResponse (or str) back as the Python worker + host would."""
        if isinstance(response, str):
            self._send(200, {"Content-Type": "text/plain; charset=utf-8"}, response.encode("utf-8"))
            return
        headers = list(response.headers.items())
        names = {name.lower() for name, _ in headers}
        if "content-type" not in names:
            mimetype = response.mimetype
            value = (
                f"{mimetype}; charset={response.charset}"
                if mimetype.startswith("text/")
                else mimetype
            )
            headers.append(("Content-Type", value))
        # The host's CORS sets these on every response from an allowed origin.
        for name, value in cors.response_headers(origin).items():
            headers = [(n, v) for n, v in headers if n.lower() != name.lower()]
            headers.append((name, value))
        self._send(response.status_code, headers, response.get_body() or b"")

    def _send_json_error(
        self,
        status: int,
        code: str,
        message: str,
        *,
        close: bool = False,
        extra: dict[str, str] | None = None,
    ) -> None:
        if close:
            self.close_connection = True
        headers = {"Content-Type": "application/json", **(extra or {})}
        if close:
            headers["Connection"] = "close"
        request_headers = getattr(self, "headers", None)  # None before the headers parse
        origin = request_headers.get("Origin") if request_headers is not None else None
        headers.update(cors.response_headers(origin))
        self._send(status, headers, error_body(code, message).encode("utf-8"))

    def _send(
        self, status: int, headers: dict[str, str] | list[tuple[str, str]], body: bytes
    ) -> None:
        items = headers.items() if isinstance(headers, dict) else headers
        self.send_response(status)
        for name, value in items:
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    # ------------------------------------------------------------ site/

    def _static(self, raw_path: str) -> None:
        if self.command not in ("GET", "HEAD"):
            # Drain the body so a keep-alive connection stays usable.
            if self._read_body() is None:
                return
            self._send(
                405,
                {"Allow": "GET, HEAD", "Content-Type": "text/plain; charset=utf-8"},
                b"Method not allowed.\n",
            )
            return
        file = self._site_file(unquote(raw_path))
        if file is None:
            self._send(404, {"Content-Type": "text/plain; charset=utf-8"}, b"Not found.\n")
            return
        content_type = CONTENT_TYPES.get(file.suffix.lower()) or (
            mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        )
        headers = {
            "Content-Type": content_type,
            "Cache-Control": "no-cache",
            "X-Content-Type-Options": "nosniff",
        }
        self._send(200, headers, file.read_bytes())

    def _site_file(self, path: str) -> Path | None:
        """The file under site/ for a URL path; None for anything outside it."""
        root = self.server.site_dir
        if root is None or "\x00" in path or "\\" in path:
            return None
        parts = [p for p in path.split("/") if p]
        if any(p in (".", "..") or p.startswith(".") for p in parts):
            return None
        candidate = root.joinpath(*parts)
        if candidate.is_dir():
            candidate = candidate / "index.html"
        try:
            resolved = candidate.resolve(strict=True)
        except (OSError, RuntimeError):
            return None
        if not resolved.is_relative_to(root) or not resolved.is_file():
            return None
        return resolved


class DevHost:
    """A running dev host (background thread). ``url`` ends without a slash."""

    def __init__(self, server: DevHostServer) -> None:
        self.server = server
        host, port = server.server_address[:2]
        self.host = str(host)
        self.port = int(port)
        self.url = f"http://{self.host}:{self.port}"
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            daemon=True,
            name=f"devhost-{self.port}",
        )

    def start(self) -> DevHost:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket (idempotent)."""
        if self._thread.is_alive():
            self.server.shutdown()
            self._thread.join(timeout=5)
        self.server.server_close()

    def __enter__(self) -> DevHost:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def make_server(
    port: int = 0,
    host: str = "127.0.0.1",
    site_dir: str | os.PathLike[str] | None = DEFAULT_SITE_DIR,
    *,
    quiet: bool = True,
    max_workers: int = MAX_WORKERS,
) -> DevHostServer:
    """A bound (not yet serving) server for the function app's routes and ``site_dir``."""
    prefix = route_prefix()
    routes = load_routes(_load_app(), prefix)
    site = Path(site_dir) if site_dir is not None else None
    return DevHostServer((host, port), routes, prefix, site, quiet, max_workers)


def start(
    port: int = 0,
    host: str = "127.0.0.1",
    site_dir: str | os.PathLike[str] | None = DEFAULT_SITE_DIR,
    *,
    model_path: str | os.PathLike[str] | None = None,
    allowed_origins: str | None = None,
    quiet: bool = True,
) -> DevHost:
    """Serve in a background thread; ``port=0`` picks a free port (see ``.url``).

    ``model_path`` and ``allowed_origins`` set the ``MODEL_PATH`` and ``ALLOWED_ORIGINS``
    app settings (environment variables, so process-wide) when given.
    """
    if model_path is not None:
        os.environ["MODEL_PATH"] = str(Path(model_path).resolve())
    if allowed_origins is not None:
        os.environ["ALLOWED_ORIGINS"] = allowed_origins
    return DevHost(make_server(port, host, site_dir, quiet=quiet)).start()

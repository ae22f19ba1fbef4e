"""The dev host: the Function app's own HTTP functions plus ``site/``, on a threaded server.

Stands in for Azure Functions Core Tools (``func start``), which cannot be installed offline.
It serves the SAME function objects registered on ``function_app.app`` at the same
``/<routePrefix>/<route>`` paths (routePrefix from host.json), builds an
``azure.functions.HttpRequest`` from each raw request, and writes the ``HttpResponse`` back
the way the Python worker does (same status, headers, body; ``Content-Type`` from the
mimetype). Like the Functions host it answers CORS preflight for ``ALLOWED_ORIGINS``,
returns 404 for unknown routes and unregistered methods, and refuses bodies over the
Function's upload limit (``MAX_UPLOAD_BYTES``) while they arrive.

Connections are held by one loop (:mod:`devhost.connections`) that reads each request
whole before a worker runs it: idle and slow clients cost no worker, a full pool answers
503 ``busy`` with ``Retry-After``, and the listen backlog holds a crowd.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import mimetypes
import os
import re
import socket
import sys
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from socketserver import _SocketWriter  # type: ignore[attr-defined]
from typing import Any
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

import azure.functions as func

from devhost.connections import Connection, ConnectionLoop, Limits
from isit import cors
from isit.http_errors import INTERNAL_ERROR_MESSAGE, error_body

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SITE_DIR = ROOT / "site"
LISTEN_BACKLOG = 1024  # connections the kernel holds until accepted (was 5)
MAX_WORKERS = 16  # requests running functions at once
MAX_QUEUED = 256  # complete requests waiting for a worker; more are answered 503 busy
MAX_CONNECTIONS = 4096  # open connections (idle ones cost a buffer, not a thread)
KEEPALIVE_IDLE_S = 5.0  # an idle keep-alive (or silent new) connection is then closed
REQUEST_DEADLINE_S = 30.0  # first byte to last byte of one request, however it is sent
WRITE_TIMEOUT_S = 10.0  # one send of a reply (a client that stops reading)
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


def _request_target(target: str) -> SplitResult | None:
    """The request target as a URL: origin-form ("/api/x?q") or absolute-form
    ("http://host/api/x"); None for anything else (raises ValueError when unreadable)."""
    split = urlsplit(target)
    if target.startswith("/") and not target.startswith("//"):
        return split
    if split.scheme in ("http", "https") and split.netloc and split.hostname is not None:
        return split._replace(scheme="", netloc="")
    return None


def _load_app() -> func.FunctionApp:
    import function_app  # an installed module (pip install -e .), beside devhost/

    return function_app.app


class DevHostServer(HTTPServer):
    """Accepts connections into a :class:`ConnectionLoop`, which reads each request whole;
    ``max_workers`` threads run the functions, ``max_queued`` requests may wait for one,
    and more are answered 503 ``busy`` with ``Retry-After``."""

    allow_reuse_address = True
    request_queue_size = LISTEN_BACKLOG  # the listen backlog: a crowd waits, not refused

    def __init__(
        self,
        address: tuple[str, int],
        routes: list[Route],
        prefix: str,
        site_dir: Path | None,
        quiet: bool,
        max_workers: int = MAX_WORKERS,
        max_queued: int = MAX_QUEUED,
    ) -> None:
        self.routes = routes
        self.prefix = "/" + prefix.strip("/") if prefix.strip("/") else ""
        self.site_dir = site_dir.resolve() if site_dir else None
        self.quiet = quiet
        self.limits = Limits(
            keepalive_idle=KEEPALIVE_IDLE_S,
            request_deadline=REQUEST_DEADLINE_S,
            max_connections=MAX_CONNECTIONS,
            max_body=max_body_bytes,
        )
        self._slots = threading.BoundedSemaphore(max_workers + max_queued)
        self._pool = ThreadPoolExecutor(max_workers, thread_name_prefix="devhost-worker")
        # Before binding: a failed bind calls server_close, which stops the loop.
        self.loop = ConnectionLoop(self.limits, self._dispatch, RequestHandler.server_version)
        super().__init__(address, RequestHandler)

    @property
    def request_deadline(self) -> float:
        return self.limits.request_deadline

    @request_deadline.setter
    def request_deadline(self, seconds: float) -> None:
        self.limits.request_deadline = seconds

    def process_request(self, request: Any, client_address: Any) -> None:
        self.loop.add(request, client_address)

    def _dispatch(self, conn: Connection, raw: bytes) -> bool:
        """Run one whole request on a worker; False (busy) when none is free or queued."""
        if not self._slots.acquire(blocking=False):
            return False
        try:
            self._pool.submit(self._work, conn, raw)
        except RuntimeError:  # shutting down
            self._slots.release()
            return False
        return True

    def _work(self, conn: Connection, raw: bytes) -> None:
        close = True
        try:
            handler = RequestHandler(conn, raw, self)
            close = handler.close_connection
        except Exception:
            self.handle_error(conn.sock, conn.address)
        finally:
            self._slots.release()
            self.loop.give_back(conn, close=close)

    def server_close(self) -> None:
        super().server_close()
        self.loop.stop()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-reply is normal (a closed browser tab), not a fault.
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


def max_body_bytes() -> int:
    """The largest request body: the Function's upload limit (``MAX_UPLOAD_BYTES``), read
    per request as the Function does, so an oversized upload is refused while it arrives."""
    import function_app

    return function_app.upload_limits().max_bytes


class RequestHandler(BaseHTTPRequestHandler):
    """Answers ONE request, read whole by the connection loop, from memory."""

    server: DevHostServer
    protocol_version = "HTTP/1.1"
    server_version = "isit-devhost"

    def __init__(self, conn: Connection, raw: bytes, server: DevHostServer) -> None:
        self.raw_request = raw
        super().__init__(conn.sock, conn.address, server)

    def setup(self) -> None:
        self.connection = self.request
        self.connection.settimeout(WRITE_TIMEOUT_S)  # a client that never reads the reply
        # Headers and body go out in separate writes; without this, Nagle's algorithm and
        # the client's delayed ACK add ~40 ms to every keep-alive response.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.rfile = io.BytesIO(self.raw_request)
        self.wfile = _SocketWriter(self.connection)

    def handle(self) -> None:
        self.close_connection = True
        self.handle_one_request()

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            self.wfile.flush()

    def handle_expect_100(self) -> bool:
        return True  # the loop sent "100 Continue" while the body was awaited

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The http.server's own errors (414, 431, 501, ...) as our JSON error body."""
        self.log_error("code %d, message %s", code, message)
        reason = message or self.responses.get(code, ("Error",))[0]
        self.close_connection = True
        if getattr(self, "request_version", "") not in ("HTTP/1.0", "HTTP/1.1"):
            # Unparsable request lines count as HTTP/0.9, which gets no status line at all.
            self.request_version = "HTTP/1.0"
        self._send_json_error(
            code, _OWN_ERROR_CODES.get(code, "bad_request"), f"{reason}.", close=True
        )

    # ------------------------------------------------------------ dispatch

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = do_GET

    def _handle(self) -> None:
        try:
            target = _request_target(self.path)
        except ValueError:  # e.g. "http://[x/": urlsplit cannot read it
            target = None
        if target is None:
            self._send_json_error(
                400, "bad_request", "The request target is not a valid URL path.", close=True
            )
            return
        try:
            self._dispatch(target)
        except Exception:  # never a dropped connection: a 500 with a request id
            request_id = uuid.uuid4().hex
            log.exception("The dev host failed on %s (request id %s)", self.command, request_id)
            self._send_json_error(
                500,
                "internal_error",
                INTERNAL_ERROR_MESSAGE,
                close=True,
                extra={"X-Request-Id": request_id},
            )

    def _dispatch(self, target: SplitResult) -> None:
        # The Functions host matches routes without regard to case, trailing slash included.
        path = unquote(target.path).lower()
        prefix = self.server.prefix.lower()
        is_api = prefix and (path == prefix or path.startswith(prefix + "/"))
        if is_api or not self.server.site_dir:
            self._api(target)
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
        """The request body (all in memory: the loop framed it, within the size limit);
        None after answering 400 for an unreadable one."""
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
        return self.rfile.read(int(raw))

    def _read_chunked(self) -> bytes | None:
        chunks = []
        while True:
            line = self.rfile.readline(1024).split(b";", 1)[0].strip()
            try:
                size = int(line, 16)
                if size < 0:
                    raise ValueError(line)
            except ValueError:
                self._send_json_error(400, "bad_request", "Malformed chunked body.", close=True)
                return None
            if size == 0:
                return b"".join(chunks)  # trailers: framed by the loop, not used
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _api(self, split: SplitResult) -> None:
        path = unquote(split.path)
        headers = self._headers_dict()
        body = self._read_body()
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
        # Any body was read whole by the loop and is dropped with this request: it can
        # never be taken for the next request on the connection.
        if self.command not in ("GET", "HEAD"):
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
    max_queued: int = MAX_QUEUED,
) -> DevHostServer:
    """A bound (not yet serving) server for the function app's routes and ``site_dir``."""
    prefix = route_prefix()
    routes = load_routes(_load_app(), prefix)
    site = Path(site_dir) if site_dir is not None else None
    return DevHostServer((host, port), routes, prefix, site, quiet, max_workers, max_queued)


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

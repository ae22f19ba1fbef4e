"""Issue 14, findings 7, 8, 10, 11: HTTP parsing in the Function and in the dev host."""

from __future__ import annotations

import json
import socket
import time

import hostile
import modelgen
import pytest
from function_helpers import SETTINGS, call, multipart

from devhost.server import DevHost, make_server


def _form(parts: int, image: bytes, boundary: str = "B") -> bytes:
    """``parts`` parts in all, the last one the photo; then the closing delimiter."""
    fields = {f"f{i}": (None, b"x", None) for i in range(parts - 1)}
    fields["image"] = ("a.jpg", image, "image/jpeg")
    body, _ = multipart(fields, boundary)
    return body


def test_content_length_must_be_ascii_digits(api) -> None:
    for value in ("²", "١٢", "1_0", "+5", "0x10"):
        reply = call(
            "classify", body=b"x", headers={"Content-Type": "image/png", "Content-Length": value}
        )
        assert reply.status == 400, value
        assert reply.json["error"]["code"] == "bad_request"


def test_the_part_limit_is_exact(api) -> None:
    photo = modelgen.photo("red", seed=1)
    ctype = "multipart/form-data; boundary=B"
    ok = call("classify", body=_form(20, photo), headers={"Content-Type": ctype})
    assert ok.status == 200, ok.body  # 20 parts; the closing delimiter is not a part
    refused = call("classify", body=_form(21, photo), headers={"Content-Type": ctype})
    assert refused.status == 400
    assert "more than 20 parts" in refused.json["error"]["message"]


@pytest.mark.parametrize(
    "ctype",
    [
        "multipart/form-data; xboundary=n; boundary=B",
        "multipart/form-data; boundary=Z; boundary=B",
        "multipart/form-data; boundary=B; boundary=Z",
        "multipart/form-data; boundary*=UTF-8''B",
        'multipart/form-data; boundary="B"',
    ],
)
def test_boundary_tricks_cannot_bypass_the_part_limit(api, ctype: str) -> None:
    photo = modelgen.photo("red", seed=1)
    reply = call("classify", body=_form(500, photo), headers={"Content-Type": ctype})
    # Refused at the limit, or (when the header's last boundary is not the body's) no
    # parts found at all: the boundary the limit counts is the one the body is parsed by.
    assert reply.status == 400
    assert reply.json["error"]["code"] in ("bad_request", "missing_image_field")


# ---------------------------------------------------------------- the dev host


@pytest.fixture
def devhost(monkeypatch, colour_model_path, tmp_path):
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MODEL_PATH", str(colour_model_path))
    (tmp_path / "index.html").write_text("<!doctype html><title>page</title>")
    # With a site, paths outside the API prefix go to the static files, as in make serve.
    server = make_server(port=0, site_dir=tmp_path, max_workers=3)
    server.request_deadline = 1.0
    host = DevHost(server).start()
    try:
        yield host
    finally:
        host.stop()


def _exchange(host: DevHost, data: bytes, timeout: float = 10) -> tuple[int, dict, bytes]:
    with socket.create_connection((host.host, host.port), timeout=timeout) as sock:
        sock.sendall(data)
        return _reply(sock)


def _reply(sock: socket.socket) -> tuple[int, dict, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    while len(body) < int(headers.get("content-length", 0)):
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(lines[0].split()[1]), headers, body


def _json_error(status: int, headers: dict, body: bytes) -> str:
    assert headers["content-type"] == "application/json", (status, headers, body)
    return json.loads(body)["error"]["code"]


def test_a_header_sent_byte_by_byte_hits_the_request_deadline(devhost) -> None:
    with socket.create_connection((devhost.host, devhost.port), timeout=10) as sock:
        sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        started = time.monotonic()
        status = None
        try:
            for _ in range(40):  # one byte every 0.2 s: each read is quick, the request is not
                sock.sendall(b"a")
                time.sleep(0.2)
        except OSError:
            pass  # the host stopped reading
        status, headers, body = _reply(sock)
        waited = time.monotonic() - started
    assert status == 408
    assert _json_error(status, headers, body) == "request_timeout"
    assert waited < 8  # the 1 s deadline, not a per-read timeout that never trips


def test_idle_connections_take_no_worker(devhost) -> None:
    # Issue 26: idle connections wait in the connection loop, not on the 3 workers (the
    # bounded pool's 503 busy is tested in tests/serve/test_devhost_crowd.py).
    idle = [socket.create_connection((devhost.host, devhost.port), timeout=10) for _ in range(3)]
    try:
        time.sleep(0.2)
        status, _headers, body = _exchange(devhost, b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status == 200, body
    finally:
        for sock in idle:
            sock.close()


@pytest.mark.parametrize(
    ("request_bytes", "status", "code"),
    [
        (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n", 414, "uri_too_long"),
        (
            b"GET /api/health HTTP/1.1\r\n"
            + b"".join(b"X-%d: 1\r\n" % i for i in range(120))
            + b"\r\n",
            431,
            "headers_too_large",
        ),
        (b"BREW /api/health HTTP/1.1\r\nHost: x\r\n\r\n", 501, "not_implemented"),
        (b"GET /api/health HTTP/9.9\r\n\r\n", 505, "http_version_not_supported"),
        (b"garbage\r\n\r\n", 400, "bad_request"),
        (  # "²" as http.client sends it (latin-1): str.isdigit() says yes, int() fails
            b"POST /api/classify HTTP/1.1\r\nHost: x\r\nContent-Length: \xb2\r\n\r\nx",
            400,
            "bad_request",
        ),
    ],
)
def test_the_hosts_own_errors_are_json(devhost, request_bytes, status, code) -> None:
    got, headers, body = _exchange(devhost, request_bytes)
    assert got == status
    assert _json_error(got, headers, body) == code


@pytest.mark.parametrize("path", ["/API/HEALTH", "/api/health/", "/Api/Health/"])
def test_routes_match_like_the_functions_host(devhost, path: str) -> None:
    status, _headers, body = _exchange(
        devhost, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    )
    assert status == 200, body
    assert json.loads(body)["status"] == "ok"


def test_mutated_hostile_uploads_never_get_a_5xx(api) -> None:
    for data in hostile.mutations(15, seed=7):
        reply = call("classify", body=data, headers={"Content-Type": "application/octet-stream"})
        assert reply.status < 500, reply.body
        assert reply.content_type == "application/json"

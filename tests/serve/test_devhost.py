"""The dev host over real HTTP on 127.0.0.1: same API as the handlers, plus site/ and CORS."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import modelgen
import pytest
import requests
from function_helpers import ROOT, SETTINGS, call, fuzz_cases, multipart, png_bomb

from devhost.process import spawn, stop
from devhost.server import DEFAULT_SITE_DIR, start

pytestmark = pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
ORIGIN = "https://isit.example"
PARITY_HEADERS = (
    "content-type",
    "cache-control",
    "allow",
    "x-content-type-options",
    "access-control-allow-origin",
    "access-control-allow-methods",
    "vary",
)


@pytest.fixture(scope="module")
def site_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("devhost-site")
    site = root / "site"
    (site / "js").mkdir(parents=True)
    (site / "sub").mkdir()
    (site / "index.html").write_text("<!doctype html><title>isit</title>", encoding="utf-8")
    (site / "js" / "main.js").write_text("export const x = 1;\n", encoding="utf-8")
    (site / "styles.css").write_text("body { margin: 0 }\n", encoding="utf-8")
    (site / "config.json").write_text('{"api": "/api"}', encoding="utf-8")
    (site / "sub" / "index.html").write_text("<p>sub</p>", encoding="utf-8")
    (site / ".env").write_text("SECRET=1", encoding="utf-8")
    (root / "outside.txt").write_text("private", encoding="utf-8")
    (site / "link.txt").symlink_to(root / "outside.txt")
    return site


@pytest.fixture(scope="module")
def host(colour_model_path, site_dir):
    with pytest.MonkeyPatch.context() as mp:
        for name in SETTINGS:
            mp.delenv(name, raising=False)
        mp.setenv("ALLOWED_ORIGINS", ORIGIN)
        running = start(port=0, site_dir=site_dir, model_path=colour_model_path)
        try:
            yield running
        finally:
            running.stop()


@pytest.fixture
def client(host):
    with requests.Session() as session:
        yield session


@pytest.fixture
def settings(host):
    """Per-test app-setting changes on the running host (read per request)."""
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def raw_request(host, request: bytes) -> tuple[int, bytes]:
    """Send bytes exactly as given (no client-side URL normalisation)."""
    with socket.create_connection((host.host, host.port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, data.split(b"\r\n\r\n", 1)[1]


# ---------------------------------------------------------------- API over HTTP


def test_classify_raw_and_multipart_and_chunked(host, client, colour_examples):
    for data, expected in colour_examples:
        reply = client.post(
            host.url + "/api/classify", data=data, headers={"Content-Type": "image/jpeg"}
        )
        assert reply.status_code == 200, reply.text
        assert reply.headers["Content-Type"] == "application/json"
        assert reply.json()["label"] == expected
        assert reply.headers["X-Request-Id"]
    data, expected = colour_examples[1]
    reply = client.post(
        host.url + "/api/classify", files={"image": ("photo.jpg", data, "image/jpeg")}
    )
    assert reply.status_code == 200 and reply.json()["label"] == expected
    chunks = (data[i : i + 1000] for i in range(0, len(data), 1000))  # Transfer-Encoding: chunked
    reply = client.post(
        host.url + "/api/classify",
        data=chunks,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert reply.status_code == 200 and reply.json()["label"] == expected


@pytest.mark.slow
def test_a_trained_model_answers_new_photos_over_http(served_model_path, served_examples):
    """The real thing end to end: a model trained by isit, served by the dev host."""
    with start(port=0, model_path=served_model_path) as running:
        for data, expected in served_examples:
            reply = requests.post(running.url + "/api/classify", data=data, timeout=30,
                                  headers={"Content-Type": "application/octet-stream"})  # fmt: skip
            assert reply.status_code == 200, reply.text
            assert reply.json()["label"] == expected


def test_http_replies_match_direct_handler_calls(host, client, colour_examples):
    data = colour_examples[0][0]
    form, form_type = multipart({"image": ("a.jpg", data, "image/jpeg")})
    cases = [
        ("classify", "POST", data, {"Content-Type": "image/jpeg"}),
        ("classify", "POST", data, {"Content-Type": "image/jpeg", "Origin": ORIGIN}),
        ("classify", "POST", form, {"Content-Type": form_type}),
        ("classify", "POST", b"", {"Content-Type": "image/jpeg"}),
        ("classify", "POST", b"junk" * 50, {"Content-Type": "image/png"}),
        ("classify", "POST", data, {"Content-Type": "text/plain"}),
        ("classify", "POST", png_bomb(), {"Content-Type": "image/png"}),
        ("classify", "GET", b"", {}),
        ("model", "GET", b"", {"Origin": ORIGIN}),
        ("model", "DELETE", b"", {}),
        ("health", "GET", b"", {}),
    ]
    for route, method, body, headers in cases:
        direct = call(route, method, body, headers)
        over_http = client.request(method, f"{host.url}/api/{route}", data=body, headers=headers)
        where = f"{method} {route} {headers}"
        assert over_http.status_code == direct.status, where
        for name in PARITY_HEADERS:
            assert over_http.headers.get(name) == direct.headers.get(name), f"{where}: {name}"
        if direct.body:
            got, want = over_http.json(), direct.json
            if route == "classify" and direct.status == 200:
                got.pop("elapsed_ms"), want.pop("elapsed_ms")
            assert got == want, where


def test_error_codes_over_http(host, client, settings, tmp_path):
    url = host.url + "/api/classify"
    data = modelgen.photo("blue", (640, 480))  # > 4000 bytes

    def code(reply):
        return reply.status_code, reply.json()["error"]["code"]

    assert code(client.post(url, data=b"", headers={"Content-Type": "image/jpeg"})) == (
        400,
        "empty_body",
    )
    assert code(client.post(url, data=b"\x00" * 100, headers={"Content-Type": "image/jpeg"})) == (
        400,
        "not_an_image",
    )
    assert code(client.post(url, files={"photo": ("a.jpg", data)})) == (400, "missing_image_field")
    assert code(client.post(url, data=data, headers={"Content-Type": "text/plain"})) == (
        415,
        "unsupported_media_type",
    )
    assert code(
        client.post(
            url,
            data=b"<svg xmlns='http://www.w3.org/2000/svg'/>",
            headers={"Content-Type": "image/svg+xml"},
        )
    ) == (415, "unsupported_format")
    assert code(client.post(url, data=png_bomb(), headers={"Content-Type": "image/png"})) == (
        422,
        "too_many_pixels",
    )
    assert code(client.get(url)) == (405, "method_not_allowed")
    assert code(client.get(host.url + "/api/nothing-here")) == (404, "not_found")
    settings.setenv("MAX_UPLOAD_BYTES", "4000")
    assert code(client.post(url, data=data, headers={"Content-Type": "image/jpeg"})) == (
        413,
        "too_large",
    )
    settings.setenv("MODEL_PATH", str(tmp_path / "missing.onnx"))
    health = client.get(host.url + "/api/health")
    assert health.status_code == 503 and health.json()["status"] == "unavailable"


def test_host_refuses_oversized_and_malformed_framing(host):
    status, body = raw_request(
        host,
        (
            b"POST /api/classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
            b"Content-Length: 209715200\r\n\r\n"
        ),
    )
    assert status == 413 and b"too_large" in body  # answered without reading 200 MB
    status, _ = raw_request(
        host, (b"POST /api/classify HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n")
    )
    assert status == 400
    for chunk_size in (b"-5", b"zz"):
        status, _ = raw_request(
            host,
            b"POST /api/classify HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            + chunk_size
            + b"\r\nabc\r\n0\r\n\r\n",
        )
        assert status == 400


def test_cors_preflight_and_actual_requests(host, client):
    pre = client.options(
        host.url + "/api/classify",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert pre.status_code == 204
    assert pre.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "POST" in pre.headers["Access-Control-Allow-Methods"]
    assert pre.headers["Access-Control-Allow-Headers"] == "content-type"
    denied = client.options(
        host.url + "/api/classify",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert denied.status_code == 204 and "Access-Control-Allow-Origin" not in denied.headers
    actual = client.get(host.url + "/api/model", headers={"Origin": ORIGIN})
    assert actual.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "Access-Control-Allow-Origin" not in client.get(host.url + "/api/model").headers


def test_fuzzed_requests_over_http_never_fail(host):
    def sendable(case):
        values = [*case.headers.values()]
        return all(v.isascii() and v.isprintable() for v in values)

    cases = [c for c in fuzz_cases(600, seed=99) if sendable(c)][:400]
    assert len(cases) >= 300
    conn = http.client.HTTPConnection(host.host, host.port, timeout=30)
    statuses = set()
    for case in cases:
        headers = {k: v for k, v in case.headers.items() if k != "Content-Length"}
        conn.request(case.method, "/api/classify", body=case.body, headers=headers)
        reply = conn.getresponse()
        reply.read()
        assert reply.status < 500, (case.kind, case.headers, case.body[:60])
        statuses.add(reply.status)
        if reply.getheader("Connection") == "close":
            conn.close()
    conn.close()
    assert {200, 400, 415} <= statuses


# ---------------------------------------------------------------- site/


def test_static_files_with_content_types(host, client, site_dir):
    index = client.get(host.url + "/")
    assert index.status_code == 200
    assert index.headers["Content-Type"] == "text/html; charset=utf-8"
    assert index.content == (site_dir / "index.html").read_bytes()
    js = client.get(host.url + "/js/main.js")
    assert js.headers["Content-Type"] == "text/javascript; charset=utf-8"  # ES modules need it
    assert client.get(host.url + "/styles.css").headers["Content-Type"].startswith("text/css")
    assert client.get(host.url + "/config.json").headers["Content-Type"] == "application/json"
    assert client.get(host.url + "/sub/").text == "<p>sub</p>"
    assert client.get(host.url + "/index.html?v=2").status_code == 200
    assert client.get(host.url + "/missing.js").status_code == 404
    assert client.post(host.url + "/", data=b"x").status_code == 405
    head = client.head(host.url + "/js/main.js")
    assert head.status_code == 200 and head.content == b""


@pytest.mark.parametrize(
    "path",
    [
        "/../outside.txt",
        "/%2e%2e/outside.txt",
        "/sub/../../outside.txt",
        "/js/..%2f..%2foutside.txt",
        "/link.txt",
        "/.env",
        "/..\\outside.txt",
        "/%00index.html",
        "//etc/passwd",
    ],
)
def test_no_directory_traversal(host, path):
    status, body = raw_request(
        host, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    )
    assert status == 404
    assert b"private" not in body and b"SECRET" not in body and b"root:" not in body


def test_serves_the_projects_site_by_default(colour_model_path):
    with start(port=0, model_path=colour_model_path) as running:
        reply = requests.get(running.url + "/", timeout=10)
    assert reply.status_code == 200
    assert reply.content == (DEFAULT_SITE_DIR / "index.html").read_bytes()


# ---------------------------------------------------------------- CLI and soak


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.fixture
def devhost_process(served_model_path):
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS}
    env["MODEL_PATH"] = str(served_model_path)
    proc, url = spawn(env)
    try:
        yield proc, url
    finally:
        stop(proc)


@pytest.mark.slow  # 2,000 requests: minutes on 2 cores
def test_soak_2000_requests_4_concurrent(devhost_process, served_examples):
    proc, url = devhost_process
    assert requests.get(url + "/api/health", timeout=10).json()["status"] == "ok"
    total, workers = 2000, 4
    failures: list[str] = []
    done = [0] * workers

    def client(index: int, count: int) -> None:
        with requests.Session() as session:
            for i in range(count):
                data, expected = served_examples[(index + i) % len(served_examples)]
                try:
                    reply = session.post(
                        url + "/api/classify",
                        data=data,
                        timeout=30,
                        headers={"Content-Type": "image/jpeg"},
                    )
                    if reply.status_code != 200 or reply.json()["label"] != expected:
                        failures.append(f"{reply.status_code} {reply.text[:100]}")
                except requests.RequestException as exc:
                    failures.append(repr(exc))
                done[index] += 1

    def run(count: int) -> float:
        threads = [
            threading.Thread(target=client, args=(w, count // workers)) for w in range(workers)
        ]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return time.perf_counter() - started

    run(200)  # warm-up: allocator pools, thread stacks, onnxruntime arenas
    before = rss_kb(proc.pid)
    done[:] = [0] * workers
    seconds = run(total)
    after = rss_kb(proc.pid)
    print(
        f"\nsoak: {total} requests, {workers} concurrent, {seconds:.1f} s "
        f"({total / seconds:.0f} req/s); dev host RSS {before / 1024:.1f} MB -> "
        f"{after / 1024:.1f} MB ({(after - before) / 1024:+.1f} MB)"
    )
    assert sum(done) == total
    assert failures == []
    assert after - before < 30 * 1024  # bounded growth: well under 30 MB over 2,000 requests
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=10) == 0


def test_cli_explains_a_busy_port(colour_model_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "devhost",
                "--port",
                str(port),
                "--model",
                str(colour_model_path),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert out.returncode == 1
    assert f"127.0.0.1:{port}" in out.stderr and "--port" in out.stderr

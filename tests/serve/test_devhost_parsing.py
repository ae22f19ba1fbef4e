"""Issue 26, item 4: the dev host's HTTP parsing. A body sent with a static GET or HEAD is
consumed (never parsed as the next request), a malformed request target is answered 400,
and a body over the upload limit is refused (413 ``too_large``) while it arrives.

Real HTTP on 127.0.0.1 through the dev host, serving a real ONNX model.
"""

from __future__ import annotations

import json
import select
import socket
import time

import pytest
from devhost_helpers import Reader, error_code, read_reply, running_devhost

LIMIT = 1_000_000  # MAX_UPLOAD_BYTES for these tests


@pytest.fixture
def host(monkeypatch, colour_model_path, tmp_path):
    (tmp_path / "index.html").write_text("<!doctype html><title>page</title>")
    with running_devhost(monkeypatch, colour_model_path, site_dir=tmp_path) as running:
        monkeypatch.setenv("MAX_UPLOAD_BYTES", str(LIMIT))
        yield running


def _connect(host) -> socket.socket:
    return socket.create_connection((host.host, host.port), timeout=10)


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_a_static_requests_body_is_not_the_next_request(host, method) -> None:
    smuggled = b"DELETE /api/health HTTP/1.1\r\nHost: x\r\n\r\n"
    with _connect(host) as sock:
        sock.sendall(
            f"{method} / HTTP/1.1\r\nHost: x\r\nContent-Length: {len(smuggled)}\r\n\r\n".encode()
            + smuggled
            + b"GET /api/model HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        reader = Reader(sock)
        status, headers, _ = reader.reply(head_only=method == "HEAD")
        assert status == 200 and headers["content-type"].startswith("text/html")
        status, headers, body = reader.reply()
    # The next answer is the next request's (/api/model), not the smuggled DELETE's 405.
    assert status == 200, body
    assert "labels" in json.loads(body)


def test_pipelined_requests_are_answered_in_order(host) -> None:
    with _connect(host) as sock:
        sock.sendall(
            b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /api/model HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        reader = Reader(sock)
        assert json.loads(reader.reply()[2])["status"] == "ok"
        assert "labels" in json.loads(reader.reply()[2])


@pytest.mark.parametrize(
    "target", ["http://[x/", "http://[::1/api/health", "*", "api/health", "ftp://x/api/health"]
)
def test_a_malformed_request_target_is_400(host, target: str) -> None:
    with _connect(host) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        status, headers, body = read_reply(sock)
    assert status == 400
    assert error_code(headers, body) == "bad_request"


def test_an_absolute_form_target_is_served(host) -> None:
    with _connect(host) as sock:
        sock.sendall(
            f"GET http://127.0.0.1:{host.port}/api/health HTTP/1.1\r\nHost: x\r\n\r\n".encode()
        )
        status, _, body = read_reply(sock)
    assert status == 200 and json.loads(body)["status"] == "ok"


def test_a_declared_body_over_the_limit_is_refused_before_it_is_sent(host) -> None:
    with _connect(host) as sock:
        sock.sendall(
            b"POST /api/classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
            + f"Content-Length: {LIMIT + 1}\r\n\r\n".encode()
        )
        status, headers, body = read_reply(sock)
    assert status == 413 and error_code(headers, body) == "too_large"


def _stream_until_answered(host, head: bytes, piece: bytes, pieces: int) -> tuple[int, tuple]:
    """Send ``head`` then ``piece`` up to ``pieces`` times, stopping once a reply is
    readable: (bytes of body sent by then, the reply)."""
    with _connect(host) as sock:
        sock.sendall(head)
        sent = 0
        for _ in range(pieces):
            if select.select([sock], [], [], 0)[0]:
                break
            try:
                sock.sendall(piece)
            except OSError:
                break
            sent += len(piece) - len(b"\r\n") * 2
            time.sleep(0.002)
        return sent, read_reply(sock)


def test_a_chunked_body_over_the_limit_is_refused_while_it_arrives(host) -> None:
    data = b"\xff" * 65536
    piece = b"%x\r\n" % len(data) + data + b"\r\n"
    head = (
        b"POST /api/classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    sent, (status, headers, body) = _stream_until_answered(host, head, piece, 160)  # 10 MB
    assert status == 413 and error_code(headers, body) == "too_large"
    assert sent < 3 * LIMIT  # answered near the limit, not after buffering 10 MB


def test_a_body_within_the_limit_still_works(host) -> None:
    import modelgen

    photo = modelgen.photo("red", seed=1)
    with _connect(host) as sock:
        sock.sendall(
            b"POST /api/classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
            + f"Content-Length: {len(photo)}\r\n\r\n".encode()
            + photo
        )
        status, _, body = read_reply(sock)
    assert status == 200 and json.loads(body)["label"] == "red_thing"


def test_a_static_request_with_an_unreadable_length_closes_the_connection(host) -> None:
    smuggled = b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n"
    with _connect(host) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: \xb2\r\n\r\n" + smuggled)
        reader = Reader(sock)
        assert reader.reply()[0] == 200
        # Where its body ends is unknown: nothing after it is taken for a request.
        with pytest.raises(ConnectionError):
            reader.reply()

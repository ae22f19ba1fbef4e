"""A dev host on a free loopback port for the tests of tests/serve/, and raw HTTP helpers."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from function_helpers import SETTINGS, reset_function_state

from devhost.server import DevHost, make_server


@contextmanager
def running_devhost(monkeypatch, model_path, site_dir=None, **server_kwargs) -> Iterator[DevHost]:
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MODEL_PATH", str(model_path))
    reset_function_state()
    host = DevHost(make_server(port=0, site_dir=site_dir, **server_kwargs)).start()
    try:
        yield host
    finally:
        host.stop()
        reset_function_state()


class Reader:
    """Replies off one connection, in order (pipelined ones too)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.data = b""

    def _more(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed after {self.data[:80]!r}")
        self.data += chunk

    def reply(self, head_only: bool = False) -> tuple[int, dict, bytes]:
        """(status, lower-case headers, body); ``head_only`` for a reply to HEAD."""
        while b"\r\n\r\n" not in self.data:
            self._more()
        head, _, self.data = self.data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
        length = 0 if head_only else int(headers.get("content-length", 0))
        while len(self.data) < length:
            self._more()
        body, self.data = self.data[:length], self.data[length:]
        return int(lines[0].split()[1]), headers, body


def read_reply(sock: socket.socket, head_only: bool = False) -> tuple[int, dict, bytes]:
    """One HTTP reply off ``sock`` (nothing may follow it)."""
    return Reader(sock).reply(head_only)


def error_code(headers: dict, body: bytes) -> str:
    assert headers["content-type"] == "application/json", (headers, body)
    return json.loads(body)["error"]["code"]

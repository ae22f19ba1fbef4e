"""Where one HTTP/1.1 request ends in a byte buffer: the dev host's connection loop reads a
whole request (head and body) before any worker sees it, so an idle or slow client costs a
buffer, never a worker thread.

Only framing is decided here (head, Content-Length or chunked body, limits); the request
itself is parsed by ``http.server`` in the worker, from exactly these bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_LINE_BYTES = 65536  # http.server's own limit for the request line and each header
MAX_HEAD_BYTES = 128 * 1024  # request line plus at most 100 headers (http.server's count)
_ASCII_DIGITS = re.compile(rb"[0-9]{1,20}")
_HEX = re.compile(rb"[0-9a-fA-F]{1,16}")


@dataclass(frozen=True)
class Framed:
    """A complete request: its first ``size`` bytes of the buffer."""

    size: int
    close: bool = False  # the framing is unsure (malformed head): no request may follow
    origin: str | None = None


@dataclass(frozen=True)
class Refused:
    """A request answered by the loop itself, without a worker (then the connection closes)."""

    status: int
    code: str
    message: str
    origin: str | None = None


@dataclass(frozen=True)
class Head:
    """What framing needs of a request head."""

    end: int  # index just past the blank line
    length: bytes | None  # Content-Length as sent (None when absent)
    chunked: bool
    expects_continue: bool
    origin: str | None
    conflicting_lengths: bool


def parse_head(buffer: bytes | bytearray) -> Head | Refused | None:
    """The head at the start of ``buffer``; None while incomplete; Refused when too long."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        first_line = buffer.split(b"\n", 1)[0]
        if len(first_line) > MAX_LINE_BYTES:
            return Refused(414, "uri_too_long", "The request line is too long.")
        if len(buffer) > MAX_HEAD_BYTES:
            return Refused(431, "headers_too_large", "The request headers are too large.")
        return None
    lengths: list[bytes] = []
    chunked = expects = False
    origin = None
    for line in bytes(buffer[:end]).split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name, value = name.strip().lower(), value.strip()
        if name == b"content-length":
            lengths.append(value)
        elif name == b"transfer-encoding":
            chunked = chunked or b"chunked" in value.lower()
        elif name == b"expect":
            expects = value.lower() == b"100-continue"
        elif name == b"origin":
            origin = value.decode("latin-1")
    return Head(
        end=end + 4,
        length=lengths[0] if lengths else None,
        chunked=chunked,
        expects_continue=expects,
        origin=origin,
        conflicting_lengths=len(set(lengths)) > 1,
    )


def frame(buffer: bytes | bytearray, max_body: int) -> Framed | Refused | None:
    """How much of ``buffer`` is the first request; None while it is still arriving."""
    head = parse_head(buffer)
    if head is None or isinstance(head, Refused):
        return head
    if head.conflicting_lengths:
        return Refused(400, "bad_request", "The request has two different Content-Lengths.")
    if head.chunked:
        end = chunked_end(buffer, head.end, max_body)
        if isinstance(end, Refused):
            return Refused(end.status, end.code, end.message, head.origin)
        return None if end is None else Framed(end, origin=head.origin)
    if head.length is None:
        return Framed(head.end, origin=head.origin)
    if not _ASCII_DIGITS.fullmatch(head.length):
        # The worker answers 400 for it; nothing after the head can be trusted.
        return Framed(head.end, close=True, origin=head.origin)
    length = int(head.length)
    if length > max_body:
        return Refused(413, "too_large", too_large_message(max_body), head.origin)
    if len(buffer) < head.end + length:
        return None
    return Framed(head.end + length, origin=head.origin)


def chunked_end(buffer: bytes | bytearray, start: int, max_body: int) -> int | Refused | None:
    """Where a chunked body starting at ``start`` ends (after its trailers); None while it
    is incomplete; Refused for a malformed chunk size or a body over ``max_body``."""
    position, total = start, 0
    while True:
        line_end = buffer.find(b"\r\n", position)
        if line_end < 0:
            too_long = len(buffer) - position > 1024
            return _malformed() if too_long else None
        size_field = bytes(buffer[position:line_end]).split(b";", 1)[0].strip()
        if not _HEX.fullmatch(size_field):
            return _malformed()
        size = int(size_field, 16)
        position = line_end + 2
        if size == 0:
            return _trailers_end(buffer, position)
        total += size
        if total > max_body:
            return Refused(413, "too_large", too_large_message(max_body))
        if len(buffer) < position + size + 2:
            return None
        if buffer[position + size : position + size + 2] != b"\r\n":
            return _malformed()
        position += size + 2


def _trailers_end(buffer: bytes | bytearray, position: int) -> int | Refused | None:
    while True:
        line_end = buffer.find(b"\r\n", position)
        if line_end < 0:
            return _malformed() if len(buffer) - position > MAX_LINE_BYTES else None
        if line_end == position:
            return line_end + 2
        position = line_end + 2


def _malformed() -> Refused:
    return Refused(400, "bad_request", "Malformed chunked body.")


def too_large_message(limit: int) -> str:
    """The 413 message (a visitor may read it: no app setting named)."""
    return f"The upload is over the {limit / 1e6:.1f} MB limit. Use a smaller photo."

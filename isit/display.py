"""One safe, visible form of any file name or path, for people and for JSON.

File names are bytes on Linux; Python hands undecodable bytes over as lone surrogates
(``os.fsdecode``), which cannot be printed to a UTF-8 terminal or written to JSON. Names
may also hold control characters (a newline, an ANSI escape) or invisible ones (a
right-to-left override). :func:`display_path` shows each such character as an escape:
``caf\\xe9.jpg`` for the Latin-1 byte 0xE9, ``a\\nb`` for a newline, ``\\u202e`` for U+202E.
Printable text (accents, CJK, emoji) is unchanged. The display form is for showing only:
open files with the real path.
"""

from __future__ import annotations

import os


def _escape(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    if char == "\n":
        return "\\n"
    if char == "\t":
        return "\\t"
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def display_path(path: str | bytes | os.PathLike[str] | os.PathLike[bytes]) -> str:
    """``path`` (str with surrogate escapes, bytes, or a Path) as printable UTF-8 text."""
    text = os.fsdecode(path)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escape(c) for c in text)

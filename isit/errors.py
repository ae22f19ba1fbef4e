"""Typed errors with messages a person can act on.

Each error has a stable snake_case ``code``; the Function maps codes to HTTP statuses,
the CLI prints the message. Image errors never contain file-system paths; model errors
may (they are for the operator: the Function logs them and answers clients with a
generic message).
"""

from __future__ import annotations


class IsitError(Exception):
    """Base class of every error isit raises on purpose."""

    code = "isit_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ImageError(IsitError):
    """The bytes given could not be turned into an image."""

    code = "invalid_image"


class EmptyImage(ImageError):
    code = "empty_body"


class NotAnImage(ImageError):
    """Random bytes, a text file, or an image so damaged it cannot be decoded."""

    code = "not_an_image"


class UnsupportedFormat(ImageError):
    """A real image in a format this installation cannot decode (e.g. HEIC without pillow-heif)."""

    code = "unsupported_format"


class ImageTooLarge(ImageError):
    """More bytes than the configured limit."""

    code = "too_large"


class TooManyPixels(ImageError):
    """Declared dimensions beyond the pixel limit (decompression-bomb guard)."""

    code = "too_many_pixels"


class ModelError(IsitError):
    """A model file that is missing, unreadable or inconsistent."""

    code = "model_invalid"


class ModelFailed(IsitError):
    """A loaded model gave an answer that is not a number (NaN or infinite scores)."""

    code = "model_failed"


class NotARegularFile(ImageError):
    """A FIFO, device, socket or folder where a photo file was expected (never read)."""

    code = "not_a_file"

"""HTTP status codes and JSON bodies for isit's typed errors (used by the Function and dev host).

Every error a client sees is ``{"error": {"code": "<snake_case>", "message": "<for a person>"}}``.
Messages come from our own typed errors, never from exception text of other libraries, so
no stack trace or server path reaches a client.
"""

from __future__ import annotations

import json

from isit import errors

# Codes raised by the core (isit.errors) plus the ones only the HTTP layer knows.
STATUS_BY_CODE: dict[str, int] = {
    errors.EmptyImage.code: 400,
    errors.NotAnImage.code: 400,
    errors.ImageError.code: 400,
    errors.UnsupportedFormat.code: 415,
    errors.ImageTooLarge.code: 413,
    errors.TooManyPixels.code: 422,
    "missing_image_field": 400,
    "bad_request": 400,
    "unsupported_media_type": 415,
    "method_not_allowed": 405,
    "not_found": 404,
    "model_unavailable": 503,
    errors.ModelFailed.code: 500,
    # POST /api/feedback (isit.photo_feedback)
    "bad_label": 400,
    "feedback_disabled": 404,
    "too_many_requests": 429,
    "feedback_unavailable": 503,
    "internal_error": 500,
}

INTERNAL_ERROR_MESSAGE = (
    "Something went wrong on the server while handling this request. Try again; if it keeps "
    "happening, report the request id."
)


def status_for(code: str) -> int:
    """The HTTP status of an error code; unknown codes are client errors (400)."""
    return STATUS_BY_CODE.get(code, 400)


def error_body(code: str, message: str) -> str:
    """The JSON error document (a ``str``) for ``code`` with a person-readable ``message``."""
    return json.dumps({"error": {"code": code, "message": message}}, ensure_ascii=False)

"""CORS from the ``ALLOWED_ORIGINS`` app setting (comma-separated origins, or ``*``).

In Azure the platform's CORS answers for the Function (infra sets the same origins); the
Function applies the rule too so ``func start`` without ``Host.CORS`` behaves the same, and
the dev host uses it for ``OPTIONS`` preflight like the Functions host does.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

ALLOWED_METHODS = "GET, POST, OPTIONS"
PREFLIGHT_MAX_AGE = "600"


def allowed_origins(setting: str | None = None) -> frozenset[str]:
    """The configured origins, normalised (no trailing slash); empty means no CORS."""
    raw = os.environ.get("ALLOWED_ORIGINS", "") if setting is None else setting
    return frozenset(o.strip().rstrip("/") for o in raw.split(",") if o.strip())


def allow_origin_value(origin: str | None, setting: str | None = None) -> str | None:
    """The ``Access-Control-Allow-Origin`` value for a request's ``Origin``, or None."""
    if not origin:
        return None
    origins = allowed_origins(setting)
    if "*" in origins:
        return "*"
    return origin if origin.rstrip("/") in origins else None


def response_headers(origin: str | None, setting: str | None = None) -> dict[str, str]:
    """Headers to add to an actual (non-preflight) response."""
    value = allow_origin_value(origin, setting)
    if value is None:
        return {}
    headers = {
        "Access-Control-Allow-Origin": value,
        "Access-Control-Expose-Headers": "X-Request-Id",
    }
    if value != "*":
        headers["Vary"] = "Origin"
    return headers


def is_preflight(method: str, headers: Mapping[str, str]) -> bool:
    """A browser's CORS preflight: OPTIONS with Origin and Access-Control-Request-Method."""
    return (
        method.upper() == "OPTIONS"
        and bool(headers.get("Origin"))
        and bool(headers.get("Access-Control-Request-Method"))
    )


def preflight_headers(headers: Mapping[str, str], setting: str | None = None) -> dict[str, str]:
    """Headers answering a preflight; empty when the origin is not allowed."""
    value = allow_origin_value(headers.get("Origin"), setting)
    if value is None:
        return {}
    result = {
        "Access-Control-Allow-Origin": value,
        "Access-Control-Allow-Methods": ALLOWED_METHODS,
        "Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
    }
    requested = headers.get("Access-Control-Request-Headers")
    if requested:
        # Simple uploads only need Content-Type; echoing the request is what the host does.
        result["Access-Control-Allow-Headers"] = requested
    if value != "*":
        result["Vary"] = "Origin"
    return result

"""Feedback: photos whose answer a visitor flagged ("No, it is ...") kept for the owner.

This module holds everything but the storage calls (:mod:`isit.feedback_backends`): the app
settings and their defaults (the ONE place for them), the per-instance rate limit and daily
cap, the record's layout and the label checks. It imports no Azure SDK, so a Function with
feedback off pays nothing for it at cold start.

Storage layout (``isit feedback pull`` reads it; keep it exactly), in container
``FEEDBACK_CONTAINER`` (or under the folder of a ``file:`` backend)::

    items/<YYYY-MM-DD>/<id>.<ext>    the photo, byte for byte as uploaded
    items/<YYYY-MM-DD>/<id>.json     {"id", "received", "label", "answer", "model_version",
                                      "photo", "sha256", "bytes"}

The record is written after its photo, so a record always has its photo. No IP address, no
cookie, no user agent is stored.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from isit.errors import IsitError

NONE_LABEL = "none"  # the visitor's "none of these"
UNKNOWN_ANSWER = "unknown"  # what the model answers for "none of these"
FILE_PREFIX = "file:"  # FEEDBACK_STORAGE=file:DIR: the folder backend
# Pillow's format name -> the photo's extension and content type in storage.
FORMATS = {
    "JPEG": ("jpg", "image/jpeg"),
    "MPO": ("jpg", "image/jpeg"),
    "PNG": ("png", "image/png"),
    "WEBP": ("webp", "image/webp"),
    "GIF": ("gif", "image/gif"),
    "BMP": ("bmp", "image/bmp"),
    "TIFF": ("tif", "image/tiff"),
    "HEIF": ("heic", "image/heic"),
    "AVIF": ("avif", "image/avif"),
    "ICO": ("ico", "image/x-icon"),
}
_VERSION = re.compile(r"[^\x00-\x1f\x7f]{1,64}")  # printable, short


class FeedbackDisabled(IsitError):
    code = "feedback_disabled"


class TooManyRequests(IsitError):
    code = "too_many_requests"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after)


class BadFeedback(IsitError):
    code = "bad_label"


class FeedbackUnavailable(IsitError):
    """Storage could not be written: the visitor reads ``message``, the log ``detail``."""

    code = "feedback_unavailable"

    def __init__(self, detail: str) -> None:
        super().__init__(
            "Your photo could not be saved right now. Nothing was kept; try again later."
        )
        self.detail = detail


# ---------------------------------------------------------------- settings


@dataclass(frozen=True)
class FeedbackSettings:
    """The feedback app settings, with their defaults (the Bicep parameters mirror these)."""

    storage: str = ""  # FEEDBACK_STORAGE: account blob URL, connection string, or file:DIR
    container: str = "feedback"  # FEEDBACK_CONTAINER
    rate_per_minute: int = 20  # FEEDBACK_RATE_PER_MINUTE: per instance
    daily_cap: int = 500  # FEEDBACK_DAILY_CAP: photos kept per instance and UTC day
    retention_days: int = 30  # FEEDBACK_RETENTION_DAYS: what the page tells visitors
    client_id: str = ""  # FEEDBACK_CLIENT_ID: the user-assigned identity, in Azure

    @property
    def enabled(self) -> bool:
        return bool(self.storage)

    @classmethod
    def from_env(cls, environ: Any = None) -> FeedbackSettings:
        """Read per request (cheap), like the Function's other settings."""
        env = os.environ if environ is None else environ
        default = cls()

        def number(name: str, fallback: int) -> int:
            raw = str(env.get(name, "")).strip()
            return int(raw) if raw.isascii() and raw.isdigit() and int(raw) > 0 else fallback

        return cls(
            storage=str(env.get("FEEDBACK_STORAGE", "")).strip(),
            container=str(env.get("FEEDBACK_CONTAINER", "")).strip() or default.container,
            rate_per_minute=number("FEEDBACK_RATE_PER_MINUTE", default.rate_per_minute),
            daily_cap=number("FEEDBACK_DAILY_CAP", default.daily_cap),
            retention_days=number("FEEDBACK_RETENTION_DAYS", default.retention_days),
            client_id=str(env.get("FEEDBACK_CLIENT_ID", "")).strip(),
        )

    def describe(self) -> dict[str, Any]:
        """What the page may know (``GET /api/model``): whether to ask, and for how long
        a sent photo is kept. Never where it is stored."""
        return {"feedback": self.enabled, "feedback_retention_days": self.retention_days}


# ---------------------------------------------------------------- limits


class Limiter:
    """A per-instance token bucket (``rate_per_minute``, bursts up to it) and a cap on
    photos kept per UTC day. In memory: each Function instance counts its own (so the
    account-wide worst case is the cap times the maximum instance count)."""

    def __init__(self, rate_per_minute: int, daily_cap: int) -> None:
        self.rate = rate_per_minute / 60.0
        self.burst = float(rate_per_minute)
        self.daily_cap = daily_cap
        self._tokens = self.burst
        self._stamp = time.monotonic()
        self._day = ""
        self._kept = 0
        self._lock = threading.Lock()

    def take(self, now: datetime | None = None) -> None:
        """Spend one request, or raise :class:`TooManyRequests` with a Retry-After."""
        now = now or datetime.now(UTC)
        with self._lock:
            self._roll_day(now)
            if self._kept >= self.daily_cap:
                midnight = datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1)
                raise TooManyRequests(
                    "This page has received all the photos it takes today. Thank you; "
                    "please try again tomorrow.",
                    math.ceil((midnight - now).total_seconds()),
                )
            tick = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (tick - self._stamp) * self.rate)
            self._stamp = tick
            if self._tokens < 1:
                raise TooManyRequests(
                    "Too many photos were sent in the last minute. Wait a moment, then try again.",
                    math.ceil((1 - self._tokens) / self.rate),
                )
            self._tokens -= 1

    def kept(self, now: datetime | None = None) -> None:
        """Count one stored photo against today's cap."""
        with self._lock:
            self._roll_day(now or datetime.now(UTC))
            self._kept += 1

    def _roll_day(self, now: datetime) -> None:
        day = now.strftime("%Y-%m-%d")
        if day != self._day:
            self._day, self._kept = day, 0


_limiters: dict[tuple[int, int], Limiter] = {}
_limiters_lock = threading.Lock()


def limiter_for(settings: FeedbackSettings) -> Limiter:
    """The process-wide limiter for these limits (a settings change starts a fresh one)."""
    key = (settings.rate_per_minute, settings.daily_cap)
    with _limiters_lock:
        if key not in _limiters:
            _limiters[key] = Limiter(*key)
        return _limiters[key]


def reset_limits() -> None:
    """Forget every count (tests; a restarted instance does the same)."""
    with _limiters_lock:
        _limiters.clear()


# ---------------------------------------------------------------- the item


def check_label(value: Any, labels: tuple[str, ...] | list[str]) -> str:
    """The visitor's claimed class: one of the model's labels, or ``none``."""
    label = str(value or "").strip()
    if label in labels or label == NONE_LABEL:
        return label
    choices = ", ".join([*labels, NONE_LABEL])
    if not label:
        raise BadFeedback(f"Say which class the photo shows: send a 'label' field ({choices}).")
    raise BadFeedback(f"'{label[:40]}' is not one of this model's classes ({choices}).")


def check_answer(value: Any, labels: tuple[str, ...] | list[str]) -> str | None:
    """The model's answer as the page saw it (optional): a label or ``unknown``."""
    answer = str(value or "").strip()
    if not answer:
        return None
    if answer in labels or answer == UNKNOWN_ANSWER:
        return answer
    raise BadFeedback(f"'answer' must be one of the model's labels or '{UNKNOWN_ANSWER}'.")


def check_version(value: Any) -> str | None:
    """The model version the answer came from (optional): short, plain characters."""
    version = str(value or "").strip()
    if not version:
        return None
    if not _VERSION.fullmatch(version):
        raise BadFeedback("'model_version' must be at most 64 printable characters.")
    return version


@dataclass(frozen=True)
class FeedbackItem:
    """One flagged photo and its record, named as the storage layout says."""

    id: str
    received: datetime
    label: str
    answer: str | None
    model_version: str | None
    photo: bytes
    ext: str
    content_type: str = "application/octet-stream"

    @classmethod
    def new(
        cls,
        photo: bytes,
        image_format: str,
        label: str,
        answer: str | None = None,
        model_version: str | None = None,
    ) -> FeedbackItem:
        """A fresh item: a random UUID4 hex id, received now (UTC)."""
        fallback = (re.sub(r"[^a-z0-9]", "", image_format.lower()), "")
        ext, content_type = FORMATS.get(image_format.upper(), fallback)
        return cls(
            uuid.uuid4().hex,
            datetime.now(UTC),
            label,
            answer,
            model_version,
            photo,
            ext or "bin",
            content_type or "application/octet-stream",
        )

    @property
    def folder(self) -> str:
        return f"items/{self.received:%Y-%m-%d}"

    @property
    def photo_name(self) -> str:
        return f"{self.folder}/{self.id}.{self.ext}"

    @property
    def record_name(self) -> str:
        return f"{self.folder}/{self.id}.json"

    def record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "received": self.received.isoformat(timespec="seconds").replace("+00:00", "Z"),
            "label": self.label,
            "answer": self.answer,
            "model_version": self.model_version,
            "photo": f"{self.id}.{self.ext}",
            "sha256": hashlib.sha256(self.photo).hexdigest(),
            "bytes": len(self.photo),
        }

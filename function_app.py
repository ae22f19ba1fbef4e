"""isit's HTTP inference API: an Azure Function (Python v2 programming model) on onnxruntime.

Thin on purpose: parse the request, call the core (:mod:`isit.bundle`), map its typed errors
to HTTP statuses. Routes (``routePrefix`` "api" in host.json):

- ``POST /api/classify``: raw image bytes (``image/*`` or ``application/octet-stream``) or
  ``multipart/form-data`` with the file in field ``image`` -> class scores as JSON.
- ``GET /api/model``: labels, input size, unknown threshold, version, held-out metrics.
- ``GET /api/health``: 200 with the model loaded, 503 with a reason otherwise.
- ``POST /api/feedback``: a flagged photo (form fields ``image``, ``label``, optional
  ``answer`` and ``model_version``) kept for the owner; 202. Off (404) unless
  ``FEEDBACK_STORAGE`` is set (:mod:`isit.photo_feedback` lists its settings).

App settings (environment variables): ``MODEL_PATH`` (default ``model/model.onnx`` beside
this file), ``MAX_UPLOAD_BYTES`` (default 10 MB), ``MAX_IMAGE_PIXELS`` (default: the core's
decompression-bomb limit), ``ALLOWED_ORIGINS`` (comma-separated CORS origins),
``ISIT_ORT_THREADS`` (onnxruntime intra-op threads; default onnxruntime's choice).

Never imports TensorFlow or ``training``: the deployed package holds only the core.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import re
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import azure.functions as func
from werkzeug import formparser
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.http import parse_options_header

from isit import cors
from isit import photo_feedback as feedback_rules
from isit.bundle import ModelBundle, load_bundle
from isit.errors import IsitError, ModelError, ModelFailed
from isit.feedback_backends import store_for
from isit.http_errors import INTERNAL_ERROR_MESSAGE, error_body, status_for
from isit.imaging import DEFAULT_LIMITS, DecodeLimits, decode

APP_DIR = Path(__file__).resolve().parent
DEFAULT_MODEL_PATH = APP_DIR / "model" / "model.onnx"
DEFAULT_MAX_UPLOAD_BYTES = 10_000_000
REQUEST_ID_HEADER = "X-Request-Id"
# What a visitor reads when no model answers (the operator's reason is in /api/health).
NOT_READY = "This demo isn't ready yet: its model hasn't been deployed. Please try again later."
MODEL_FAILED = (
    "The model could not give an answer for this photo. Try again later; if it keeps "
    "happening, report the request id."
)
EXPLAIN_YES = ("1", "true", "yes", "on")
NO_HEATMAP = (
    "This model cannot show where it looked: its head has a hidden layer, for which no exact "
    "heatmap exists."
)
MAX_FORM_PARTS = 20  # a form with the photo needs 1; each part costs parsing time
_ASCII_DIGITS = re.compile(r"[0-9]{1,20}")  # str.isdigit() also accepts "²" and "٣"
# Registered for every route so a wrong method gets our JSON 405 rather than the host's 404.
ROUTE_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")

log = logging.getLogger("isit.function")
# The running request's id (set by _serve), so a handler can log with it.
_request_id: ContextVar[str] = ContextVar("isit_request_id", default="-")

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


class ApiError(Exception):
    """A client-facing error raised by the HTTP layer itself (not by the core)."""

    def __init__(
        self,
        code: str,
        message: str,
        headers: dict[str, str] | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message  # for whoever sent the request: a visitor, maybe
        self.headers = headers or {}
        # For the operator (``/api/health``, the log): app settings, what to deploy.
        self.detail = detail or message


# ---------------------------------------------------------------- settings


def _int_setting(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        log.warning("App setting %s=%r is not a positive integer; using %d.", name, raw, default)
        return default
    return value


def upload_limits() -> DecodeLimits:
    """Byte and pixel limits from the app settings (read per request: cheap, and testable)."""
    return DecodeLimits(
        max_bytes=_int_setting("MAX_UPLOAD_BYTES", DEFAULT_MAX_UPLOAD_BYTES),
        max_pixels=_int_setting("MAX_IMAGE_PIXELS", DEFAULT_LIMITS.max_pixels),
    )


def model_path() -> Path:
    """``MODEL_PATH``; a relative path is taken from the working directory if it exists
    there, else from this file's folder (the deployed package root)."""
    raw = os.environ.get("MODEL_PATH", "").strip()
    if not raw:
        return DEFAULT_MODEL_PATH
    path = Path(raw).expanduser()
    if path.is_absolute() or path.exists():
        return path
    return APP_DIR / path


# ---------------------------------------------------------------- the model, once per process


def get_model() -> ModelBundle:
    """The process-wide model for the current ``MODEL_PATH`` (loaded on first use, then
    reused: :func:`isit.bundle.load_bundle` keeps one session per path)."""
    path = model_path()
    try:
        return load_bundle(path)
    except ModelError as exc:
        # The full reason (with the path) goes to the log, never to the client.
        log.error("The model could not be loaded: %s", exc.message)
        if not path.is_file():
            reason = (
                "No model file is deployed where the MODEL_PATH app setting points. "
                "Deploy model.onnx with the app or fix MODEL_PATH."
            )
        else:
            # The core's reason, for operators, without where the file is (health is public).
            why = exc.message.replace(str(path), "the model").replace(path.name, "the model")
            reason = f"The deployed model file could not be loaded: {why}"
        raise ApiError("model_unavailable", NOT_READY, detail=reason) from exc


# ---------------------------------------------------------------- request plumbing


def _finite(value: Any) -> Any:
    """NaN/inf (e.g. an undefined metric) as null: browsers' JSON.parse rejects NaN."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _json_response(
    payload: Any, status: int = 200, headers: dict[str, str] | None = None
) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(_finite(payload), ensure_ascii=False, allow_nan=False),
        status_code=status,
        mimetype="application/json",
        headers=headers or {},
    )


def _error_response(code: str, message: str, headers: dict[str, str] | None = None):
    return func.HttpResponse(
        error_body(code, message),
        status_code=status_for(code),
        mimetype="application/json",
        headers=headers or {},
    )


def _serve(
    req: func.HttpRequest,
    allowed: tuple[str, ...],
    handler: Callable[[func.HttpRequest], func.HttpResponse],
) -> func.HttpResponse:
    """Run ``handler`` with method checks, typed-error mapping, CORS and a request id."""
    request_id = uuid.uuid4().hex
    _request_id.set(request_id)
    allow = ", ".join((*allowed, "OPTIONS"))
    origin = req.headers.get("Origin")
    try:
        if req.method == "OPTIONS":
            headers = {"Allow": allow, **cors.preflight_headers(req.headers)}
            response = func.HttpResponse(status_code=204, headers=headers)
        elif req.method not in allowed:
            response = _error_response(
                "method_not_allowed",
                f"{req.method} is not supported here; use {' or '.join(allowed)}.",
                {"Allow": allow},
            )
        else:
            response = handler(req)
    except ApiError as exc:
        response = _error_response(exc.code, exc.message, exc.headers)
    except ModelFailed as exc:  # a model that answers NaN: never a label, never a 200
        log.error("Model failed (request id %s): %s", request_id, exc.message)
        response = _error_response("model_failed", MODEL_FAILED)
    except ModelError as exc:  # its message may name server files: log it, say less
        log.error("Model error (request id %s): %s", request_id, exc.message)
        response = _error_response(
            "model_unavailable", "The model could not answer; the server log says why."
        )
    except IsitError as exc:
        # The core's messages are written for people and carry no server paths.
        response = _error_response(exc.code, exc.message)
    except Exception:
        log.exception(
            "Unexpected error handling %s %s (request id %s)", req.method, req.url, request_id
        )
        response = _error_response("internal_error", INTERNAL_ERROR_MESSAGE)
    headers = response.headers
    headers[REQUEST_ID_HEADER] = request_id
    headers["X-Content-Type-Options"] = "nosniff"
    headers.setdefault("Cache-Control", "no-store")
    if req.method != "OPTIONS":
        for name, value in cors.response_headers(origin).items():
            headers[name] = value
    return response


def _mimetype(req: func.HttpRequest) -> str:
    return req.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()


def _check_declared_length(req: func.HttpRequest, limit: int) -> None:
    """Refuse an oversized upload from its Content-Length before looking at the body."""
    declared = req.headers.get("Content-Length", "").strip()
    if not declared:
        return
    if not _ASCII_DIGITS.fullmatch(declared):
        raise ApiError(
            "bad_request", "The Content-Length header is not a number of bytes (0-9 only)."
        )
    if int(declared) > limit:
        raise ApiError("too_large", _too_large_message(int(declared), limit))


def _too_large_message(size: int, limit: int) -> str:
    return (
        f"The upload is {size / 1e6:.1f} MB; the limit is {limit / 1e6:.1f} MB. "
        "Use a smaller photo."
    )


def _parse_form(req: func.HttpRequest) -> tuple[Any, Any]:
    """(form, files) of a multipart body, parsed by werkzeug with an exact part limit.

    The boundary comes from werkzeug's own Content-Type parser (the one azure.functions
    uses too), so no second reading of the header can disagree with the body's parser.
    """
    body = req.get_body()
    mimetype, options = parse_options_header(req.headers.get("Content-Type", ""))
    parser = formparser.FormDataParser(
        formparser.default_stream_factory,
        max_form_memory_size=None,
        max_form_parts=MAX_FORM_PARTS,
        cls=ImmutableMultiDict,
    )
    _, form, files = parser.parse(io.BytesIO(body), mimetype, len(body), options)
    return form, files


def _multipart_image(req: func.HttpRequest) -> tuple[bytes, Any]:
    """The photo of a multipart body, and the form's text fields."""
    try:
        form, files = _parse_form(req)
    except RequestEntityTooLarge as exc:  # werkzeug stops at the part limit
        raise ApiError(
            "bad_request",
            f"The form has more than {MAX_FORM_PARTS} parts. Send just the photo, as a file "
            "in a form field named 'image'.",
        ) from exc
    except Exception as exc:  # a third-party parser on untrusted bytes: any failure is a 400
        log.info("Unreadable multipart body: %s", type(exc).__name__)
        raise ApiError(
            "bad_request",
            "The multipart/form-data body could not be read. Send the photo as a file in a "
            "form field named 'image'.",
        ) from exc
    upload = files.get("image")
    if upload is None:
        hint = (
            " The 'image' field holds text; attach the photo as a file."
            if "image" in form
            else " (If you sent one, the multipart body may be malformed.)"
        )
        raise ApiError(
            "missing_image_field",
            "The form has no file in a field named 'image'." + hint,
        )
    return upload.read(), form


def _upload(req: func.HttpRequest, limits: DecodeLimits) -> tuple[bytes, Any]:
    """The photo's bytes, and the form's text fields (empty for a raw body)."""
    _check_declared_length(req, limits.max_bytes)
    body = req.get_body() or b""
    if len(body) > limits.max_bytes:
        raise ApiError("too_large", _too_large_message(len(body), limits.max_bytes))
    if not body:
        raise ApiError(
            "empty_body", "The request has no body. POST the photo's bytes or a form with it."
        )
    mimetype = _mimetype(req)
    fields: Any = {}
    if mimetype == "multipart/form-data":
        data, fields = _multipart_image(req)
    elif mimetype.startswith("image/") or mimetype == "application/octet-stream":
        data = body
    else:
        shown = mimetype or "no Content-Type"
        raise ApiError(
            "unsupported_media_type",
            f"Cannot read an upload sent as {shown}. Send the photo with Content-Type "
            "image/jpeg (or another image/* type), application/octet-stream, or as "
            "multipart/form-data with the file in field 'image'.",
        )
    if not data:
        raise ApiError("empty_body", "The uploaded file is empty (0 bytes). Choose a photo.")
    return data, fields


def _wants_explanation(req: func.HttpRequest, fields: Any) -> bool:
    """``?explain=1`` (or a form field ``explain=1``): add where the model looked."""
    value = req.params.get("explain") or fields.get("explain") or ""
    return str(value).strip().lower() in EXPLAIN_YES


# ---------------------------------------------------------------- the routes


def _classify(req: func.HttpRequest) -> func.HttpResponse:
    started = time.perf_counter()
    limits = upload_limits()
    data, fields = _upload(req, limits)
    bundle = get_model()
    explain = _wants_explanation(req, fields)
    if explain:
        prediction, heatmap = bundle.explain(data, limits=limits)
    else:
        prediction, heatmap = bundle.predict(data, limits=limits), None
    payload = {
        "label": prediction.label,
        "confidence": round(prediction.confidence, 4),
        "unknown": prediction.unknown,
        "uncertain": prediction.uncertain,
        "best_guess": prediction.best_guess,
        # "a little" / "quite" / "very" unlike the training photos, when unknown: the
        # class scores then mean nothing, and the page says this instead.
        "unlike": prediction.unlike,
        "scores": [{"label": s.label, "score": round(s.score, 4)} for s in prediction.scores],
        "model": {"name": bundle.metadata.name, "version": bundle.metadata.version},
    }
    if explain:
        payload.update(heatmap.to_dict() if heatmap else {"heatmap": None, "crop": None})
        if heatmap is None:
            payload["explain_unavailable"] = NO_HEATMAP
    payload["elapsed_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return _json_response(payload)


def _model_info(req: func.HttpRequest) -> func.HttpResponse:
    payload = {**get_model().describe(), **feedback_rules.FeedbackSettings.from_env().describe()}
    return _json_response(payload, headers={"Cache-Control": "no-cache"})


def _feedback(req: func.HttpRequest) -> func.HttpResponse:
    """Keep a flagged photo: checked like /api/classify's uploads, then stored (202)."""
    settings = feedback_rules.FeedbackSettings.from_env()
    if not settings.enabled:
        raise ApiError(
            "feedback_disabled", "This page does not collect feedback; nothing was sent."
        )
    try:  # before reading the body: a flood costs no decoding
        feedback_rules.limiter_for(settings).take()
    except feedback_rules.TooManyRequests as exc:
        raise ApiError(exc.code, exc.message, {"Retry-After": str(exc.retry_after)}) from exc
    limits = upload_limits()
    data, fields = _upload(req, limits)
    bundle = get_model()

    def field(name: str) -> Any:
        return fields.get(name) or req.params.get(name)

    label = feedback_rules.check_label(field("label"), bundle.labels)
    answer = feedback_rules.check_answer(field("answer"), bundle.labels)
    version = feedback_rules.check_version(field("model_version"))
    # The same decoder and limits as /api/classify: what it refuses is refused here.
    decoded = decode(data, limits=limits, min_side=bundle.metadata.preprocess.size)
    item = feedback_rules.FeedbackItem.new(data, decoded.format, label, answer, version)
    try:
        store_for(settings).put(item)
    except feedback_rules.FeedbackUnavailable as exc:
        log.error("Feedback not stored (request id %s): %s", _request_id.get(), exc.detail)
        raise ApiError(exc.code, exc.message) from exc
    feedback_rules.limiter_for(settings).kept()
    return _json_response({"status": "stored", "id": item.id}, status=202)


def _health(req: func.HttpRequest) -> func.HttpResponse:
    try:
        bundle = get_model()
    except ApiError as exc:
        payload = {
            "status": "unavailable",
            "reason": exc.detail,  # health checks are read by operators
            "error": {"code": exc.code, "message": exc.message},
        }
        return _json_response(payload, status=503)
    meta = bundle.metadata
    return _json_response({"status": "ok", "model": {"name": meta.name, "version": meta.version}})


@app.route(route="classify", methods=list(ROUTE_METHODS))
def classify(req: func.HttpRequest) -> func.HttpResponse:
    return _serve(req, ("POST",), _classify)


@app.route(route="model", methods=list(ROUTE_METHODS))
def model(req: func.HttpRequest) -> func.HttpResponse:
    return _serve(req, ("GET",), _model_info)


@app.route(route="health", methods=list(ROUTE_METHODS))
def health(req: func.HttpRequest) -> func.HttpResponse:
    return _serve(req, ("GET",), _health)


@app.route(route="feedback", methods=list(ROUTE_METHODS))
def feedback(req: func.HttpRequest) -> func.HttpResponse:
    return _serve(req, ("POST",), _feedback)

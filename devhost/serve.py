"""Serve the Function's API and ``site/`` until Ctrl+C: what ``isit serve`` runs."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from devhost.server import DEFAULT_SITE_DIR, make_server
from isit.errors import IsitError

DEFAULT_PORT = 7071
DEFAULT_HOST = "127.0.0.1"  # loopback: nothing is exposed unless asked for


class CannotListen(IsitError):
    code = "cannot_listen"


def serve(
    port: int = DEFAULT_PORT,
    host: str = DEFAULT_HOST,
    site: Path | None = DEFAULT_SITE_DIR,
    model: str | os.PathLike[str] | None = None,
    *,
    quiet: bool = False,
    feedback_dir: str | os.PathLike[str] | None = None,
) -> int:
    """Listen, print the URL, serve until Ctrl+C; 0 when stopped. ``model`` sets MODEL_PATH,
    ``feedback_dir`` turns feedback on into that folder (``FEEDBACK_STORAGE=file:DIR``)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if feedback_dir:
        os.environ["FEEDBACK_STORAGE"] = "file:" + str(Path(feedback_dir).expanduser().resolve())
    if model:
        # A model the user named must be there and work: fail now, not with 503s later.
        from isit.bundle import named_model_file

        os.environ["MODEL_PATH"] = str(named_model_file(model, "--model").resolve())
    if site is not None and not Path(site).is_dir():
        print(f"Note: no site folder at {site}; serving the API only.", file=sys.stderr)
        site = None
    try:
        server = make_server(port, host, Path(site) if site else None, quiet=quiet)
    except OSError as exc:
        raise CannotListen(
            f"Cannot listen on {host}:{port}: {exc.strerror}. Pick another port with --port."
        ) from exc
    _announce_model()
    _announce_feedback()
    bound_host, bound_port = server.server_address[:2]
    print(
        f"isit dev host: http://{bound_host}:{bound_port}/  "
        f"(API at http://{bound_host}:{bound_port}/api/; Ctrl+C stops)",
        flush=True,
    )
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def _announce_model() -> None:
    import function_app  # loaded by make_server; load the model now to report on it

    path = function_app.model_path()
    if not path.exists():  # said once, plainly: not the Function's three log lines
        print(
            f"No model yet: nothing at {path}, so the page will say it is not ready. "
            "Make one with `isit demo` (then `isit serve --model .demo/model/model.onnx`) "
            "or `isit train DATA_DIR`, or pass --model.",
            file=sys.stderr,
        )
        return
    try:
        bundle = function_app.get_model()
        labels = ", ".join(bundle.labels)
        print(f"Model: {bundle.metadata.name} {bundle.metadata.version} ({labels})")
    except function_app.ApiError as exc:
        print(
            f"Warning: {exc.detail} (MODEL_PATH={function_app.model_path()}). "
            "/api/health answers 503 until a model is there. Make one with `isit demo` "
            "(then `isit serve --model .demo/model/model.onnx`) or `isit train DATA_DIR`.",
            file=sys.stderr,
        )


def _announce_feedback() -> None:
    storage = os.environ.get("FEEDBACK_STORAGE", "").strip()
    if not storage:
        return
    where = (
        storage[len("file:") :]
        if storage.startswith("file:")
        else "the Blob storage FEEDBACK_STORAGE names"
    )
    print(f"Feedback: on; flagged photos are kept in {where}")

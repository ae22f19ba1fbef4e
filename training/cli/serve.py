"""``isit serve --model PATH``: the web page and the HTTP API of a model, on this machine."""

from __future__ import annotations

import argparse

DESCRIPTION = """\
Serve a model.onnx locally: the web page (site/) at / and the Azure Function's API at
/api/classify, /api/model and /api/health, the same code Azure runs. Listens on
127.0.0.1 only unless --host says otherwise. App settings come from the environment, as
in Azure: MODEL_PATH (what --model sets), ALLOWED_ORIGINS, MAX_UPLOAD_BYTES,
MAX_IMAGE_PIXELS, ISIT_ORT_THREADS, FEEDBACK_STORAGE (what --feedback-dir sets)."""
EXAMPLES = """\
  isit serve --model runs/data/model.onnx             # http://127.0.0.1:7071/
  isit serve --model model.onnx --port 8080 --quiet
  isit serve --model model.onnx --feedback-dir feedback/   # "Was this right?" on the page
  curl -s -F image=@photo.jpg http://127.0.0.1:7071/api/classify"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from devhost.serve import DEFAULT_HOST, DEFAULT_PORT
    from devhost.server import DEFAULT_SITE_DIR

    parser.add_argument(
        "--model",
        metavar="PATH",
        help="model.onnx to serve (default: $MODEL_PATH, else model/model.onnx)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port (default {DEFAULT_PORT}; 0 = any free port)",
    )
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})"
    )
    parser.add_argument("--site", default=str(DEFAULT_SITE_DIR), help="the static page's folder")
    parser.add_argument("--quiet", action="store_true", help="do not log each request")
    parser.add_argument(
        "--feedback-dir",
        metavar="DIR",
        help="turn feedback on: photos visitors flag are kept in DIR "
        "(items/<day>/<id>.<ext> + .json; same as FEEDBACK_STORAGE=file:DIR)",
    )


def run(args: argparse.Namespace) -> int:
    from devhost.serve import serve

    return serve(
        args.port,
        args.host,
        args.site,
        args.model,
        quiet=args.quiet,
        feedback_dir=args.feedback_dir,
    )

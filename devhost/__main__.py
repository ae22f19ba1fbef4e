"""``python -m devhost --port 7071``: serve the Function's API and site/ until Ctrl+C."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from devhost.server import DEFAULT_SITE_DIR, make_server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devhost",
        description="Serve the isit Function's /api routes and the site/ page locally.",
    )
    parser.add_argument("--port", type=int, default=7071, help="port (0 = any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    parser.add_argument("--site", default=str(DEFAULT_SITE_DIR), help="static site folder")
    parser.add_argument("--model", help="model.onnx to serve (sets MODEL_PATH)")
    parser.add_argument("--quiet", action="store_true", help="do not log each request")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.model:
        os.environ["MODEL_PATH"] = str(Path(args.model).resolve())
    site = Path(args.site)
    if not site.is_dir():
        print(f"Note: no site folder at {site}; serving the API only.", file=sys.stderr)
    try:
        server = make_server(
            args.port, args.host, site if site.is_dir() else None, quiet=args.quiet
        )
    except OSError as exc:
        print(
            f"Cannot listen on {args.host}:{args.port}: {exc.strerror}. "
            "Pick another port with --port.",
            file=sys.stderr,
        )
        return 1

    import function_app  # loaded by make_server; load the model now to report on it

    try:
        bundle = function_app.get_model()
        print(
            f"Model: {bundle.metadata.name} {bundle.metadata.version} ({', '.join(bundle.labels)})"
        )
    except function_app.ApiError as exc:
        print(
            f"Warning: {exc.message} (MODEL_PATH={function_app.model_path()}). "
            "/api/health answers 503 until a model is there; `make demo` trains one.",
            file=sys.stderr,
        )
    host, port = server.server_address[:2]
    print(
        f"isit dev host: http://{host}:{port}/  (API at http://{host}:{port}/api/; Ctrl+C stops)",
        flush=True,
    )
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

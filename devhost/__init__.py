"""isit's local dev host: the Azure Function's HTTP API plus the static page, on 127.0.0.1.

Azure Functions Core Tools (``func start``) cannot be installed offline here, so this
serves the SAME function objects registered in ``function_app.py`` (found with
``app.get_functions()``) at the same ``/api/...`` paths, with the same status codes,
content types and headers, and serves ``site/`` at ``/``.

Command line (``make serve``, ``make demo``; ``python -m devhost`` is an alias)::

    isit serve --port 7071 [--host 127.0.0.1] [--site site] [--model PATH] [--quiet]

It prints the URL (``http://127.0.0.1:7071/``) once it is listening; ``--port 0`` picks a
free port. App settings come from the environment as in Azure: ``MODEL_PATH``,
``ALLOWED_ORIGINS``, ``MAX_UPLOAD_BYTES``, ``MAX_IMAGE_PIXELS``, ``ISIT_ORT_THREADS``.

Programmatic use (tests, browser tests)::

    from devhost.server import start

    host = start(port=0, site_dir="site", model_path="model.onnx")  # background thread
    try:
        requests.post(host.url + "/api/classify", data=jpeg_bytes,
                      headers={"Content-Type": "image/jpeg"})
        page = host.url + "/"                      # site/index.html
    finally:
        host.stop()

``start(port=0, host="127.0.0.1", site_dir=<repo>/site, *, model_path=None,
allowed_origins=None, quiet=True) -> DevHost``; ``DevHost`` has ``.url`` (no trailing
slash), ``.host``, ``.port``, ``.stop()`` and works as a context manager. ``model_path``
and ``allowed_origins`` set the ``MODEL_PATH`` / ``ALLOWED_ORIGINS`` environment variables
(process-wide); the Function loads a model once per path. ``site_dir=None`` serves the API
only. Behaviour as in the Functions host: CORS preflight (``OPTIONS`` with
``Origin`` and ``Access-Control-Request-Method``) on ``/api/...`` is answered for the
origins in ``ALLOWED_ORIGINS``; unknown ``/api`` routes are 404 JSON; bodies over the
upload limit (``MAX_UPLOAD_BYTES``) are refused with 413 while they arrive. A bounded pool
runs the functions; when it and its queue are full, 503 ``busy`` with ``Retry-After``.
Static files: ``.js`` as ``text/javascript`` (ES modules), no
directory traversal or dot-files, ``/`` and folders serve ``index.html``.
"""

from devhost.server import DevHost, start

__all__ = ["DevHost", "start"]

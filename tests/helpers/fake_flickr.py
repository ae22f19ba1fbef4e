"""A local stand-in for the Flickr REST API and its photo server, for tests and offline trials.

It answers the three methods `fetch` uses with Flickr's JSON shapes (``stat``/``code``/
``message`` errors, ``photos.page/pages/perpage/total`` paging, the ``url_*``, ``tags``,
``license`` and ``ownername`` extras) and serves generated JPEGs. Scripted faults per photo
(429 with Retry-After, 5xx, a body cut short, a truncated image, HTML instead of an image)
and a request log let tests check retries and resumption.

    python tests/helpers/fake_flickr.py --photos 60 --port 8765
    FLICKR_API_KEY=test-key isit fetch flickr --user mila_owner --tags mila \\
        --out /tmp/mila --negatives --api-base http://127.0.0.1:8765/services/rest/
"""

from __future__ import annotations

import argparse
import io
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
from PIL import Image

from training.data.fetch.flickr import SIZE_ORDER, clean_tag

REST_PATH = "/services/rest/"
DEFAULT_KEY = "test-key"
DEFAULT_OWNER = "12345678@N00"
SIDES = {"b": 160, "c": 140, "z": 120, "w": 100, "n": 80, "m": 64}  # small: tests stay fast


@dataclass
class FakePhoto:
    id: str
    tags: list[str]
    title: str = ""
    owner: str = DEFAULT_OWNER
    license: str = "4"
    sizes: tuple[str, ...] = SIZE_ORDER


@dataclass
class FakeUser:
    nsid: str
    username: str
    alias: str = ""


def make_jpeg(seed: int, longest: int) -> bytes:
    """A distinct picture per seed (random blocks, scaled up) so no two look alike."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, size=(6, 8, 3), dtype=np.uint8)
    width, height = longest, max(16, longest * 3 // 4)
    image = Image.fromarray(blocks, "RGB").resize((width, height), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


@dataclass
class FakeFlickr:
    """The server state; ``start()`` serves it on 127.0.0.1 in a background thread."""

    photos: list[FakePhoto]
    users: list[FakeUser] = field(
        default_factory=lambda: [FakeUser(DEFAULT_OWNER, "mila_owner", alias="milasphotos")]
    )
    api_key: str = DEFAULT_KEY
    retry_after: str = "0"
    # photo id -> actions, consumed one per request: "429", "500", "cut" (connection closed
    # mid-body), "truncated" (a well-framed answer holding half a JPEG), "html",
    # "bad_length" (Content-Length: ²), "trickle" (a byte every trickle_every s), "ok".
    faults: dict[str, list[str]] = field(default_factory=dict)
    image_delay: float = 0.0  # seconds before each image answer (a slow, far-away server)
    trickle_every: float = 2.0  # the "trickle" fault: seconds between bytes...
    trickle_bytes: int = 30  # ...and how many it sends before hanging up
    stop_after_images: int | None = None  # shut down (connection refused) after N images
    log: list[tuple[str, str]] = field(default_factory=list)  # ("api", method) / ("image", id)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._port = 0
        self._thread: threading.Thread | None = None
        self._images_served = 0

    # -- lifecycle -------------------------------------------------------------------
    def start(self, port: int = 0) -> FakeFlickr:
        """Serve on 127.0.0.1; port 0 picks a free port (see ``base``)."""
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self))
        self._port = self._server.server_address[1]
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._lock:  # may race with the stop_after_images thread
            server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def __enter__(self) -> FakeFlickr:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base(self) -> str:
        assert self._port, "start() the server first"
        return f"http://127.0.0.1:{self._port}"

    @property
    def api_base(self) -> str:
        return self.base + REST_PATH

    def count(self, kind: str, detail: str | None = None) -> int:
        with self._lock:
            return sum(1 for k, d in self.log if k == kind and (detail is None or d == detail))

    # -- requests --------------------------------------------------------------------
    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        url = urlsplit(request.path)
        if url.path == REST_PATH:
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            with self._lock:
                self.log.append(("api", query.get("method", "")))
            self._send_json(request, self._api(query))
        elif url.path.startswith("/photos/"):
            self._image(request, url.path.rsplit("/", 1)[-1])
        else:
            self._send(request, 404, b"not found", "text/plain")

    def _api(self, q: dict[str, str]) -> dict[str, Any]:
        if q.get("api_key") != self.api_key:
            return {"stat": "fail", "code": 100, "message": "Invalid API Key (Key not found)"}
        method = q.get("method", "")
        if method == "flickr.people.findByUsername":
            for user in self.users:
                if user.username.lower() == q.get("username", "").lower():
                    return {
                        "user": {
                            "id": user.nsid,
                            "nsid": user.nsid,
                            "username": {"_content": user.username},
                        },
                        "stat": "ok",
                    }
            return {"stat": "fail", "code": 1, "message": "User not found"}
        if method == "flickr.urls.lookupUser":
            parts = [p for p in urlsplit(q.get("url", "")).path.split("/") if p]
            name = parts[1] if len(parts) > 1 and parts[0] in ("photos", "people") else ""
            for user in self.users:
                if name and name in (user.alias, user.nsid):
                    return {
                        "user": {"id": user.nsid, "username": {"_content": user.username}},
                        "stat": "ok",
                    }
            return {"stat": "fail", "code": 1, "message": "User not found"}
        if method == "flickr.photos.search":
            return self._search(q)
        return {"stat": "fail", "code": 112, "message": f'Method "{method}" not found'}

    def _search(self, q: dict[str, str]) -> dict[str, Any]:
        user_id = q.get("user_id", "")
        if user_id and user_id not in {u.nsid for u in self.users}:
            return {"stat": "fail", "code": 2, "message": "Unknown user"}
        wanted = {clean_tag(t) for t in q.get("tags", "").split(",") if t.strip()}
        matches = [
            p
            for p in self.photos
            if (not user_id or p.owner == user_id)
            and (not wanted or wanted & {clean_tag(t) for t in p.tags})
        ]
        per_page = min(500, max(1, int(q.get("per_page", "100") or 100)))
        page = max(1, int(q.get("page", "1") or 1))
        pages = max(1, -(-len(matches) // per_page)) if matches else 0
        chunk = matches[(page - 1) * per_page : page * per_page]
        extras = set(q.get("extras", "").split(","))
        return {
            "photos": {
                "page": page,
                "pages": pages,
                "perpage": per_page,
                "total": str(len(matches)),  # Flickr has sent it as a string
                "photo": [self._entry(p, extras) for p in chunk],
            },
            "stat": "ok",
        }

    def _entry(self, photo: FakePhoto, extras: set[str]) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "id": photo.id,
            "owner": photo.owner,
            "secret": "abc123",
            "server": "65535",
            "farm": 66,
            "title": photo.title,
            "ispublic": 1,
            "isfriend": 0,
            "isfamily": 0,
        }
        if "tags" in extras:
            entry["tags"] = " ".join(clean_tag(t) for t in photo.tags)
        if "license" in extras:
            entry["license"] = photo.license
        if "owner_name" in extras:
            names = {u.nsid: u.username for u in self.users}
            entry["ownername"] = names.get(photo.owner, "someone")
        for size in photo.sizes:
            if f"url_{size}" in extras:
                side = SIDES[size]
                entry[f"url_{size}"] = f"{self.base}/photos/{photo.id}_{size}.jpg"
                entry[f"width_{size}"], entry[f"height_{size}"] = side, max(16, side * 3 // 4)
        return entry

    def _image(self, request: BaseHTTPRequestHandler, name: str) -> None:
        stem = name.removesuffix(".jpg")
        photo_id, _, size = stem.partition("_")
        with self._lock:
            self.log.append(("image", photo_id))
            queue = self.faults.get(photo_id)
            action = queue.pop(0) if queue else "ok"
            self._images_served += 1
            limit = self.stop_after_images
            stop_now = limit is not None and self._images_served == limit
            gone = limit is not None and self._images_served > limit
        if gone:  # accepted while shutting down: hang up without an answer
            request.close_connection = True
            return
        if not photo_id.isdigit() or size not in SIDES:
            self._send(request, 404, b"no such photo", "text/plain")
            return
        body = make_jpeg(int(photo_id), SIDES[size])
        if self.image_delay:
            time.sleep(self.image_delay)
        if action == "429":
            self._send(request, 429, b"slow down", "text/plain", {"Retry-After": self.retry_after})
        elif action == "500":
            self._send(request, 500, b"oops", "text/plain")
        elif action == "html":
            self._send(request, 200, b"<html><body>Photo unavailable</body></html>", "text/html")
        elif action == "truncated":
            self._send(request, 200, body[: len(body) // 2], "image/jpeg")
        elif action == "bad_length":  # a Content-Length that str.isdigit() accepts
            request.send_response(200)
            request.send_header("Content-Type", "image/jpeg")
            request._headers_buffer.append(b"Content-Length: \xb2\r\n")  # type: ignore[attr-defined]
            request.end_headers()
            request.wfile.write(body)
            request.close_connection = True
        elif action == "trickle":  # one byte every trickle_every seconds, never the end
            request.send_response(200)
            request.send_header("Content-Type", "image/jpeg")
            request.send_header("Content-Length", str(len(body)))
            request.end_headers()
            for byte in body[: self.trickle_bytes]:
                request.wfile.write(bytes([byte]))
                request.wfile.flush()
                time.sleep(self.trickle_every)
            request.close_connection = True
        elif action == "cut":  # promise the whole body, send half, hang up
            request.send_response(200)
            request.send_header("Content-Type", "image/jpeg")
            request.send_header("Content-Length", str(len(body)))
            request.end_headers()
            request.wfile.write(body[: len(body) // 2])
            request.wfile.flush()
            request.close_connection = True
        else:
            self._send(request, 200, body, "image/jpeg")
        if stop_now:  # from another thread: shutdown() waits for serve_forever to return
            threading.Thread(target=self.stop, daemon=True).start()

    @staticmethod
    def _send(
        request: BaseHTTPRequestHandler,
        status: int,
        body: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        request.send_response(status)
        request.send_header("Content-Type", content_type)
        request.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            request.send_header(key, value)
        request.end_headers()
        request.wfile.write(body)

    def _send_json(self, request: BaseHTTPRequestHandler, answer: dict[str, Any]) -> None:
        self._send(request, 200, json.dumps(answer).encode(), "application/json")


def sample_photos(count: int, tag_every: int = 3, tag: str = "mila") -> list[FakePhoto]:
    """``count`` photos; every ``tag_every``-th is tagged ``tag``, the rest carry other tags."""
    photos = []
    for index in range(count):
        photo_id = str(50_000_000_000 + index)
        tags = [tag, "dog"] if index % tag_every == 0 else ["garden", "holiday"][: index % 3]
        photos.append(FakePhoto(photo_id, tags, title=f"Photo {index}"))
    return photos


def _handler_for(state: FakeFlickr) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            try:
                state._handle(self)
            except (BrokenPipeError, ConnectionResetError):
                return  # the client went away (killed, timed out): nothing to answer

        def log_message(self, format: str, *args: Any) -> None:
            return  # quiet: tests read ``state.log`` instead

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=60)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds per image answer")
    args = parser.parse_args(argv)
    server = FakeFlickr(sample_photos(args.photos), image_delay=args.delay).start(args.port)
    print(f"fake Flickr API at {server.api_base} (key {server.api_key!r}, user mila_owner)")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

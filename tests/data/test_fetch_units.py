"""The pieces of `fetch` on their own: retry timing, Flickr answers, tags, ids, the store."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from training.data.fetch.fetch_errors import FlickrApiError, NetworkError, UserNotFound
from training.data.fetch.fetcher import negatives_label, parse_tags
from training.data.fetch.flickr import (
    NSID_RE,
    FlickrClient,
    User,
    clean_tag,
    license_name,
    parse_photo,
    size_fallbacks,
)
from training.data.fetch.http import (
    ConnectionLost,
    HttpClient,
    RetryPolicy,
    ServerBusy,
    retry_after_seconds,
)
from training.data.fetch.store import ManifestRow, PhotoStore


class Recorder:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


class ScriptedServer:
    """Answers each GET with the next (status, headers, body) of a script."""

    def __init__(self, script: list[tuple[int, dict[str, str], bytes]]) -> None:
        self.script = list(script)
        self.requests = 0
        state = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                state.requests += 1
                status, headers, body = state.script.pop(0) if state.script else (404, {}, b"")
                self.send_response(status)
                for key, value in {"Content-Length": str(len(body)), **headers}.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/services/rest/"
        threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def scripted():
    servers: list[ScriptedServer] = []

    def make(script):
        servers.append(ScriptedServer(script))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


def ok(answer: dict) -> tuple[int, dict[str, str], bytes]:
    return 200, {"Content-Type": "application/json"}, json.dumps(answer).encode()


FAST = RetryPolicy(attempts=4, backoff_base=0.25)


# -- retry timing ------------------------------------------------------------------------------


def test_retry_after_in_seconds_or_as_a_date():
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds("Thu, 01 Jan 2026 12:00:30 GMT", now) == 30.0
    assert retry_after_seconds("Thu, 01 Jan 2026 11:00:00 GMT", now) == 0.0  # in the past
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def test_backoff_doubles_with_jitter_and_is_capped():
    policy = RetryPolicy(backoff_base=1.0, backoff_max=5.0)
    for attempt, full in [(0, 1.0), (1, 2.0), (2, 4.0), (3, 5.0), (9, 5.0)]:
        for _ in range(20):
            assert full / 2 <= policy.backoff(attempt) <= full


def test_5xx_is_retried_with_backoff_and_retry_after_is_capped(scripted):
    server = scripted(
        [
            (503, {}, b"busy"),
            (429, {"Retry-After": "100000"}, b"slow down"),
            ok({"stat": "ok"}),
        ]
    )
    sleep = Recorder()
    http = HttpClient(RetryPolicy(backoff_base=0.25, retry_after_max=60), sleep=sleep)
    fetched = http.get(server.url)
    assert fetched.status == 200
    assert server.requests == 3
    assert 0.125 <= sleep.calls[0] <= 0.25
    assert sleep.calls[1] == 60  # the server asked for a day; capped


def test_a_server_that_stays_busy_gives_a_typed_error(scripted):
    server = scripted([(503, {}, b"")] * 4)
    with pytest.raises(ServerBusy, match=r"answered HTTP 503 4 times in a row"):
        HttpClient(FAST, sleep=Recorder()).get(server.url)
    assert server.requests == 4


def test_a_client_error_is_not_retried(scripted):
    server = scripted([(404, {}, b"gone")])
    assert HttpClient(FAST, sleep=Recorder()).get(server.url).status == 404
    assert server.requests == 1


# -- Flickr answers ----------------------------------------------------------------------------


def test_flickr_service_unavailable_is_retried(scripted):
    server = scripted(
        [
            ok({"stat": "fail", "code": 105, "message": "Service currently unavailable"}),
            ok({"user": {"id": "1@N00", "nsid": "1@N00", "username": {"_content": "a"}},
                "stat": "ok"}),
        ]
    )  # fmt: skip
    client = FlickrClient("k", HttpClient(FAST, sleep=Recorder()), server.url)
    assert client.resolve_user("a") == User("1@N00", "a")


def test_an_answer_that_is_not_json_is_a_clear_error(scripted):
    server = scripted([(200, {"Content-Type": "text/html"}, b"<html>captive portal</html>")])
    client = FlickrClient("k", HttpClient(FAST, sleep=Recorder()), server.url)
    with pytest.raises(FlickrApiError, match="was not JSON"):
        client.call("flickr.test.echo")


def test_other_flickr_errors_keep_their_code_and_message(scripted):
    server = scripted([ok({"stat": "fail", "code": 112, "message": 'Method "x" not found'})])
    client = FlickrClient("k", HttpClient(FAST, sleep=Recorder()), server.url)
    with pytest.raises(FlickrApiError, match=r'Method "x" not found \(error 112\)') as caught:
        client.call("x")
    assert caught.value.flickr_code == 112


def test_unknown_user_when_both_lookups_fail(scripted):
    not_found = ok({"stat": "fail", "code": 1, "message": "User not found"})
    server = scripted([not_found, not_found])
    client = FlickrClient("k", HttpClient(FAST, sleep=Recorder()), server.url)
    with pytest.raises(UserNotFound, match="Flickr has no user 'ghost'"):
        client.resolve_user("ghost")
    assert server.requests == 2  # findByUsername, then the profile-URL lookup


def test_parse_photo_picks_the_largest_wanted_size_and_reads_extras():
    entry = {
        "id": "123", "owner": "1@N00", "ownername": "Ann", "title": "t", "license": "4",
        "tags": "mila dog", "url_m": "https://x/m.jpg", "url_z": "https://x/z.jpg",
    }  # fmt: skip
    photo = parse_photo(entry, size_fallbacks("b"))
    assert photo is not None
    assert (photo.url, photo.size) == ("https://x/z.jpg", "z")
    assert photo.tags == frozenset({"mila", "dog"})
    assert photo.page_url == "https://www.flickr.com/photos/1@N00/123/"
    assert parse_photo({**entry, "tags": None}, ("z",)).tags is None  # type: ignore[union-attr]
    assert parse_photo({**entry, "url_z": "file:///etc/passwd"}, ("z",)).url is None  # type: ignore[union-attr]
    for bad_id in ("../1", "", "12a", None):
        assert parse_photo({**entry, "id": bad_id}, ("z",)) is None


def test_nsid_tags_and_licenses():
    assert NSID_RE.match("12037949632@N01") and NSID_RE.match("12345678@N00")
    assert not NSID_RE.match("mila") and not NSID_RE.match("123@n00")
    assert clean_tag("Mila Dog!") == "miladog"
    assert parse_tags("Mila, dog,,mila") == ("mila", "dog")
    assert negatives_label(("mila",)) == "not_mila"
    assert negatives_label(("cat", "dog")) == "other"
    assert license_name("4") == "CC BY 2.0"
    assert license_name("42") == "Flickr license 42"
    assert size_fallbacks("z") == ("z", "w", "n", "m")


# -- the store ---------------------------------------------------------------------------------


def test_store_finds_photos_by_id_and_ignores_the_rest(tmp_path):
    (tmp_path / "mila").mkdir()
    (tmp_path / "mila" / "123.jpg").write_bytes(b"x")
    (tmp_path / "mila" / "IMG_0001.jpg").write_bytes(b"x")  # the user's own photo
    (tmp_path / "mila" / "456.txt").write_bytes(b"x")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "789.jpg").write_bytes(b"x")
    store = PhotoStore(tmp_path)
    assert store.existing() == {"123": tmp_path / "mila" / "123.jpg"}


def test_manifest_round_trip_drops_rows_of_deleted_files(tmp_path):
    store = PhotoStore(tmp_path)
    store.prepare()
    kept = store.save("mila", "1", "jpg", b"data")
    store.save("mila", "2", "jpg", b"data")
    rows = [
        ManifestRow(pid, f"mila/{pid}.jpg", "mila", "o", "O", "4", "CC BY 2.0", "t,\"q\"\n2",
                    "https://www.flickr.com/photos/o/1/", "https://x")
        for pid in ("1", "2")
    ]  # fmt: skip
    (tmp_path / "mila" / "2.jpg").unlink()
    assert store.write_manifest(rows) == 1
    assert store.load_manifest() == {"1": rows[0]}
    assert kept.read_bytes() == b"data"
    assert [p.name for p in tmp_path.rglob("*.part")] == []


def test_a_tls_failure_is_named_and_counts_as_unreachable(scripted):
    server = scripted([ok({"stat": "ok"})] * 4)
    https_url = server.url.replace("http://", "https://")  # TLS to a plain-HTTP server
    with pytest.raises(NetworkError, match="secure connection failed") as caught:
        HttpClient(FAST, sleep=Recorder()).get(https_url)
    assert not isinstance(caught.value, ConnectionLost)

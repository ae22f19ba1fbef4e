"""`fetch flickr` against a local server that answers like the Flickr REST API.

Every test runs real HTTP on 127.0.0.1 (tests/helpers/fake_flickr.py): paging, error answers,
scripted faults per photo (429, 5xx, cut connections, truncated and non-image bodies) and
a server that goes away mid-run.
"""

from __future__ import annotations

import csv
import socket
from pathlib import Path

import pytest
from fake_flickr import DEFAULT_OWNER, FakeFlickr, FakePhoto, sample_photos

from isit.imaging import DecodeLimits, decode
from training.data.fetch import FetchOptions, fetch_flickr
from training.data.fetch.fetch_errors import (
    ApiKeyRejected,
    InvalidOption,
    MissingApiKey,
    NetworkError,
    NoPhotos,
    StorageError,
    UserNotFound,
)
from training.data.fetch.fetcher import FlickrFetcher
from training.data.fetch.http import HttpClient, RetryPolicy
from training.data.fetch.store import COLUMNS

FAST = RetryPolicy(attempts=3, backoff_base=0.001, connect_timeout=2, read_timeout=5)


class SleepRecorder:
    """Stands in for time.sleep: records the waits, waits nothing."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def server():
    fake = FakeFlickr(sample_photos(30)).start()  # ids ...000..029; every 3rd tagged mila
    yield fake
    fake.stop()


def mila_ids(fake: FakeFlickr) -> set[str]:
    return {p.id for p in fake.photos if "mila" in p.tags}


def fetch(fake: FakeFlickr, out: Path, *, http: HttpClient | None = None, **overrides):
    options = {
        "user": "mila_owner",
        "tags": ("mila",),
        "out": out,
        "api_base": fake.api_base,
        "per_page": 4,
        "workers": 3,
        "retry": FAST,
        **overrides,
    }
    return fetch_flickr(FetchOptions(**options), fake.api_key, http=http, progress=False)


def files_by_class(out: Path) -> dict[str, set[str]]:
    return {
        folder.name: {p.stem for p in folder.iterdir() if not p.name.startswith(".")}
        for folder in sorted(out.iterdir())
        if folder.is_dir()
    }


def read_manifest(out: Path) -> list[dict[str, str]]:
    with open(out / "manifest.csv", newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == COLUMNS
        return list(reader)


def assert_consistent(out: Path) -> None:
    """No temporary files; every kept file decodes; the manifest lists exactly the files."""
    leftovers = [p for p in out.rglob("*") if p.name.endswith(".part")]
    assert leftovers == []
    files = {p.relative_to(out).as_posix() for p in out.glob("*/*") if p.is_file()}
    for name in files:
        decode((out / name).read_bytes())
    assert {row["file"] for row in read_manifest(out)} == files


# -- happy paths -----------------------------------------------------------------------------


def test_pages_through_search_and_files_photos_under_their_tag(server, tmp_path):
    report = fetch(server, tmp_path / "data")

    out = tmp_path / "data"
    assert files_by_class(out) == {"mila": mila_ids(server)}
    assert [(c.label, c.downloaded, c.already_had) for c in report.classes] == [("mila", 10, 0)]
    # 10 tagged photos at 4 per page: pages 1, 2 and 3, each asked once.
    assert server.count("api", "flickr.photos.search") == 3
    assert server.count("api", "flickr.people.findByUsername") == 1
    assert server.count("image") == 10
    assert report.failures == []
    assert_consistent(out)


def test_several_tags_make_several_folders_and_a_photo_with_two_tags_goes_nowhere(tmp_path):
    photos = [
        FakePhoto("101", ["cat"]),
        FakePhoto("102", ["Cat", "sofa"]),
        FakePhoto("103", ["dog"]),
        FakePhoto("104", ["cat", "dog"]),  # which class? neither
        FakePhoto("105", ["garden"]),
        FakePhoto("106", []),
    ]
    with FakeFlickr(photos) as fake:
        report = fetch(fake, tmp_path, tags=("Cat", "dog"), negatives=True)
    assert files_by_class(tmp_path) == {
        "cat": {"101", "102"},
        "dog": {"103"},
        "other": {"105", "106"},  # balanced to the largest tag folder: 2
    }
    assert report.ambiguous == ["104"]
    assert_consistent(tmp_path)


def test_negatives_carry_none_of_the_tags_and_balance_the_positives(server, tmp_path):
    report = fetch(server, tmp_path, negatives=True)

    folders = files_by_class(tmp_path)
    assert set(folders) == {"mila", "not_mila"}
    assert len(folders["not_mila"]) == len(folders["mila"]) == 10
    assert not folders["not_mila"] & mila_ids(server)
    assert [c.label for c in report.classes] == ["mila", "not_mila"]
    rows = read_manifest(tmp_path)
    assert {row["class"] for row in rows if row["file"].startswith("not_mila/")} == {"not_mila"}


def test_limit_and_negatives_limit(server, tmp_path):
    fetch(server, tmp_path, limit=4, negatives=True, negatives_limit=6)
    folders = files_by_class(tmp_path)
    assert (len(folders["mila"]), len(folders["not_mila"])) == (4, 6)
    # The limit stops paging early: 4 photos fit on the first page of the tag search.
    assert server.count("image") == 10


def test_a_smaller_size_is_used_when_the_photo_lacks_the_one_asked_for(tmp_path):
    photos = [FakePhoto("7", ["mila"], sizes=("n", "m")), FakePhoto("8", ["mila"], sizes=())]
    with FakeFlickr(photos) as fake:
        report = fetch(fake, tmp_path, size="b")
    assert files_by_class(tmp_path) == {"mila": {"7"}}
    assert read_manifest(tmp_path)[0]["image_url"].endswith("/photos/7_n.jpg")
    assert [(f.photo_id, f.reason) for f in report.failures] == [
        ("8", "no image URL for sizes b, c, z, w, n, m")
    ]


def test_user_by_profile_alias_or_url_or_nsid(server, tmp_path):
    for user in ("milasphotos", "https://www.flickr.com/photos/milasphotos/", DEFAULT_OWNER):
        report = fetch(server, tmp_path / "x", user=user, limit=1)
        assert report.user.nsid == DEFAULT_OWNER


# -- resuming ----------------------------------------------------------------------------------


def test_second_run_downloads_nothing_new(server, tmp_path):
    fetch(server, tmp_path, negatives=True)
    images_after_first = server.count("image")
    before = {p: p.stat().st_mtime_ns for p in tmp_path.glob("*/*")}

    report = fetch(server, tmp_path, negatives=True)

    assert server.count("image") == images_after_first == 20
    assert [(c.downloaded, c.already_had) for c in report.classes] == [(0, 10), (0, 10)]
    assert {p: p.stat().st_mtime_ns for p in tmp_path.glob("*/*")} == before
    assert len(read_manifest(tmp_path)) == 20


def test_a_larger_limit_downloads_only_the_missing_photos(server, tmp_path):
    fetch(server, tmp_path, limit=4)
    assert server.count("image") == 4
    report = fetch(server, tmp_path)
    assert server.count("image") == 10  # 6 more, none twice
    assert (report.classes[0].downloaded, report.classes[0].already_had) == (6, 4)
    assert {row["photo_id"] for row in read_manifest(tmp_path)} == mila_ids(server)


def test_files_without_a_manifest_row_get_one_and_stale_temp_files_go(server, tmp_path):
    fetch(server, tmp_path, limit=3)
    (tmp_path / "manifest.csv").unlink()  # as if killed before the manifest was written
    stale = tmp_path / "mila" / ".50000000003.1a2b3c4d.part"
    stale.write_bytes(b"\xff\xd8half a jpeg")

    report = fetch(server, tmp_path, limit=3)

    assert report.stale_temps_removed == 1 and not stale.exists()
    assert server.count("image") == 3
    assert len(read_manifest(tmp_path)) == 3
    assert_consistent(tmp_path)


def test_a_photo_the_user_moved_to_another_class_stays_there(server, tmp_path):
    fetch(server, tmp_path, negatives=True)
    moved = sorted(mila_ids(server))[0]
    (tmp_path / "mila" / f"{moved}.jpg").rename(tmp_path / "not_mila" / f"{moved}.jpg")

    report = fetch(server, tmp_path, negatives=True)

    assert server.count("image") == 20  # nothing fetched again
    assert [(c.label, c.total) for c in report.classes] == [("mila", 9), ("not_mila", 11)]
    rows = {row["photo_id"]: row for row in read_manifest(tmp_path)}
    assert (rows[moved]["file"], rows[moved]["class"]) == (f"not_mila/{moved}.jpg", "not_mila")
    assert_consistent(tmp_path)


# -- broken downloads --------------------------------------------------------------------------


def test_connection_cut_mid_body_is_retried_then_listed_and_replaced(server, tmp_path):
    ids = sorted(mila_ids(server))  # the fake server's search order
    server.faults[ids[0]] = ["cut"] * FAST.attempts  # broken on every attempt
    server.faults[ids[1]] = ["cut"]  # broken once, fine on the retry

    report = fetch(server, tmp_path, limit=3)

    kept = files_by_class(tmp_path)["mila"]
    assert kept == {ids[1], ids[2], ids[3]}  # the failed photo was replaced by the next one
    assert [(f.photo_id, f.unreachable) for f in report.failures] == [(ids[0], False)]
    assert "connection dropped" in report.failures[0].reason
    assert server.count("image", ids[0]) == FAST.attempts
    assert server.count("image", ids[1]) == 2
    assert_consistent(tmp_path)


def test_truncated_image_and_html_page_are_listed_not_kept(server, tmp_path):
    ids = sorted(mila_ids(server))
    server.faults[ids[0]] = ["truncated"]
    server.faults[ids[1]] = ["html"]

    report = fetch(server, tmp_path)

    assert files_by_class(tmp_path)["mila"] == mila_ids(server) - {ids[0], ids[1]}
    reasons = {f.photo_id: f.reason for f in report.failures}
    assert set(reasons) == {ids[0], ids[1]}
    assert "damaged or incomplete" in reasons[ids[0]]
    assert "not an image" in reasons[ids[1]]
    assert server.count("image", ids[0]) == 1  # a complete answer is not retried
    assert_consistent(tmp_path)


def test_429_waits_as_long_as_retry_after_says_then_succeeds(server, tmp_path):
    target = sorted(mila_ids(server))[0]
    server.faults[target] = ["429", "429"]
    server.retry_after = "7"
    sleep = SleepRecorder()
    http = HttpClient(FAST, sleep=sleep)

    report = fetch(server, tmp_path, http=http)

    assert report.failures == []
    assert target in files_by_class(tmp_path)["mila"]
    assert server.count("image", target) == 3
    assert sleep.calls == [7.0, 7.0]


def test_a_server_error_on_every_attempt_is_listed(server, tmp_path):
    target = sorted(mila_ids(server))[0]
    server.faults[target] = ["500"] * FAST.attempts
    report = fetch(server, tmp_path)
    assert [(f.photo_id, f.reason) for f in report.failures] == [(target, "HTTP 500, 3 attempts")]
    assert target not in files_by_class(tmp_path)["mila"]


def test_a_file_over_the_size_limit_is_refused(server, tmp_path):
    options = FetchOptions(
        user="mila_owner", tags=("mila",), out=tmp_path, api_base=server.api_base, retry=FAST
    )
    fetcher = FlickrFetcher(options, server.api_key, progress=False, limits=DecodeLimits(100))
    report = fetcher.run()
    assert len(report.failures) == 10
    assert all("limit" in f.reason for f in report.failures)
    assert files_by_class(tmp_path) == {}


def test_network_lost_mid_run_stops_cleanly_and_a_rerun_finishes(tmp_path):
    photos = sample_photos(60)
    fake = FakeFlickr(photos, stop_after_images=5).start()
    try:
        with pytest.raises(NetworkError, match="run the same command again") as caught:
            fetch(fake, tmp_path, workers=2, per_page=100)  # one page: downloads hit it
    finally:
        fake.stop()
    assert "cannot be reached" in caught.value.message
    kept = files_by_class(tmp_path)["mila"]
    assert 1 <= len(kept) <= 5
    assert_consistent(tmp_path)

    with FakeFlickr(photos) as again:
        report = fetch(again, tmp_path)
        assert again.count("image") == 20 - len(kept)
    assert report.classes[0].total == 20
    assert_consistent(tmp_path)


def test_a_failed_write_leaves_no_temporary_file(server, tmp_path, monkeypatch):
    import training.data.fetch.store as store

    def refuse(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store.os, "replace", refuse)
    with pytest.raises(StorageError, match=r"Cannot write into .*No space left on device"):
        fetch(server, tmp_path, workers=1)
    assert [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "manifest.csv"] == []


# -- errors a user must fix ----------------------------------------------------------------


def test_missing_key(server, tmp_path):
    options = FetchOptions(user="mila_owner", tags=("mila",), out=tmp_path / "d")
    with pytest.raises(MissingApiKey, match="FLICKR_API_KEY is not set"):
        fetch_flickr(options, "  ")
    assert not (tmp_path / "d").exists()


def test_rejected_key(server, tmp_path):
    options = FetchOptions(
        user="mila_owner", tags=("mila",), out=tmp_path / "d", api_base=server.api_base
    )
    with pytest.raises(ApiKeyRejected, match=r"rejected the API key.*Invalid API Key"):
        fetch_flickr(options, "not-the-key", progress=False)
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("user", ["nobody_at_all", "99999@N01"])
def test_unknown_user(server, tmp_path, user):
    with pytest.raises(UserNotFound, match="Flickr has no user"):
        fetch(server, tmp_path / "d", user=user)
    assert not (tmp_path / "d").exists()


def test_no_photos_with_the_tag(server, tmp_path):
    with pytest.raises(NoPhotos, match="no public photos tagged sunset"):
        fetch(server, tmp_path / "d", tags=("mila", "sunset"))
    assert not (tmp_path / "d").exists()
    assert server.count("image") == 0


def test_network_down_from_the_start(tmp_path):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    options = FetchOptions(
        user="mila_owner",
        tags=("mila",),
        out=tmp_path / "d",
        api_base=f"http://127.0.0.1:{port}/services/rest/",
        retry=FAST,
    )
    with pytest.raises(NetworkError, match=r"after 3 attempts \(connection refused\)"):
        fetch_flickr(options, "some-key", progress=False)
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize(
    ("tags", "message"),
    [(("mila", "test"), "split folder"), (("!!!",), "no letters or digits"), ((" ",), "at least")],
)
def test_unusable_tags(server, tmp_path, tags, message):
    with pytest.raises(InvalidOption, match=message):
        fetch(server, tmp_path, tags=tags)


def test_negatives_folder_name_taken_by_a_tag(server, tmp_path):
    with pytest.raises(InvalidOption, match="'other'"):
        fetch(server, tmp_path, tags=("mila", "other"), negatives=True)


# -- the manifest ---------------------------------------------------------------------------


def test_manifest_records_attribution_and_survives_odd_titles(tmp_path):
    titles = {
        "201": 'Mila, "the dog"\non two lines',
        "202": "../../etc/passwd",
        "203": "Ünïcödé 🐶 名前",
        "204": "",
    }
    photos = [FakePhoto(pid, ["mila"], title=title, license="9") for pid, title in titles.items()]
    photos.append(FakePhoto("205", ["mila"], title="plain", license="0"))
    titles["205"] = "plain"
    with FakeFlickr(photos) as fake:
        fetch(fake, tmp_path)
        base = fake.base

    rows = {row["photo_id"]: row for row in read_manifest(tmp_path)}
    assert {pid: row["title"] for pid, row in rows.items()} == titles
    assert sorted(p.name for p in (tmp_path / "mila").iterdir()) == [
        f"{pid}.jpg" for pid in sorted(titles)
    ]
    row = rows["201"]
    assert row["file"] == "mila/201.jpg"
    assert row["class"] == "mila"
    assert (row["owner"], row["owner_name"]) == (DEFAULT_OWNER, "mila_owner")
    assert (row["license"], row["license_name"]) == ("9", "CC0 1.0")
    assert rows["205"]["license_name"] == "All Rights Reserved"
    assert row["source_url"] == f"https://www.flickr.com/photos/{DEFAULT_OWNER}/201/"
    assert row["image_url"] == f"{base}/photos/201_z.jpg"


def test_photo_ids_that_are_not_numbers_are_never_used_as_file_names(tmp_path):
    photos = [FakePhoto("../../evil", ["mila"]), FakePhoto("301", ["mila"])]
    with FakeFlickr(photos) as fake:
        fetch(fake, tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.jpg")] == ["mila/301.jpg"]

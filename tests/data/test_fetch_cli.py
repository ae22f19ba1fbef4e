"""`isit fetch flickr` end to end (in-process and as a real subprocess)."""

from __future__ import annotations

import csv
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fake_flickr import FakeFlickr, sample_photos

from training.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def server():
    fake = FakeFlickr(sample_photos(36)).start()  # 12 tagged mila, 24 not
    yield fake
    fake.stop()


def cli(server: FakeFlickr, out: Path, *extra: str) -> list[str]:
    return [
        "fetch", "flickr", "--user", "mila_owner", "--tags", "mila", "--out", str(out),
        "--api-base", server.api_base, "--backoff", "0.001", "--attempts", "2", *extra,
    ]  # fmt: skip


def test_fetches_then_prints_the_dataset_check(server, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FLICKR_API_KEY", server.api_key)
    status = main(cli(server, tmp_path / "data", "--negatives", "--size", "m"))
    out = capsys.readouterr().out

    assert status == 0
    assert len(list((tmp_path / "data" / "mila").glob("*.jpg"))) == 12
    assert len(list((tmp_path / "data" / "not_mila").glob("*.jpg"))) == 12
    assert "mila/                   12 photos (12 new, 0 already there)" in out
    assert "manifest.csv (24 photos)" in out
    # The dataset doctor's summary follows: both folders, as classes of 12 usable images.
    check = out.split("Dataset check:", 1)[1]
    assert "readable images, 2 classes" in check
    assert [line.split()[:2] for line in check.splitlines() if line.strip().startswith("mila")] == [
        ["mila", "12"]
    ]


def test_second_run_says_nothing_was_new(server, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FLICKR_API_KEY", server.api_key)
    assert main(cli(server, tmp_path, "--limit", "5", "--no-check")) == 0
    capsys.readouterr()
    assert main(cli(server, tmp_path, "--limit", "5", "--no-check")) == 0
    assert "5 photos (0 new, 5 already there)" in capsys.readouterr().out
    assert server.count("image") == 5


def test_failures_are_listed(server, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FLICKR_API_KEY", server.api_key)
    server.faults["50000000003"] = ["html"]
    assert main(cli(server, tmp_path, "--no-check")) == 1  # some downloads failed
    out = capsys.readouterr().out
    assert "1 downloads failed and were not kept:" in out
    assert "mila/50000000003: This file is not an image" in out
    assert "Run the same command again to retry them." in out


@pytest.mark.parametrize(
    ("key", "user", "tags", "expected"),
    [
        ("", "mila_owner", "mila", "error: FLICKR_API_KEY is not set."),
        ("wrong", "mila_owner", "mila", "error: Flickr rejected the API key in FLICKR_API_KEY"),
        (None, "ghost", "mila", "error: Flickr has no user 'ghost'."),
        (None, "mila_owner", "sunset", "error: mila_owner has no public photos tagged sunset."),
    ],
)
def test_errors_are_one_line_and_exit_1(
    server, tmp_path, monkeypatch, capsys, key, user, tags, expected
):
    monkeypatch.setenv("FLICKR_API_KEY", server.api_key if key is None else key)
    args = cli(server, tmp_path / "d")
    args[args.index("--user") + 1] = user
    args[args.index("--tags") + 1] = tags
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.startswith(expected)
    assert err.count("\n") == 1
    assert "Traceback" not in err
    assert not (tmp_path / "d").exists()


def closed_port() -> int:
    with socket.socket() as probe:  # bound then closed: nobody listens there
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_api_key_never_appears_in_messages(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FLICKR_API_KEY", "s3cr3t-key-value")
    api = f"http://127.0.0.1:{closed_port()}/services/rest/"
    args = [
        "fetch", "flickr", "--user", "x", "--tags", "mila", "--out", str(tmp_path),
        "--api-base", api, "--backoff", "0", "--attempts", "1",
    ]  # fmt: skip
    assert main(args) == 1
    captured = capsys.readouterr()
    assert "connection refused" in captured.err
    assert "s3cr3t" not in captured.err + captured.out


def test_usage_errors_come_from_argparse(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["fetch", "flickr", "--user", "x", "--tags", "mila", "--out", "d", "--limit", "0"])
    assert exited.value.code == 2
    assert "--limit: must be at least 1" in capsys.readouterr().err


def test_help_hides_the_test_options(capsys):
    with pytest.raises(SystemExit):
        main(["fetch", "flickr", "--help"])
    text = capsys.readouterr().out
    assert "--negatives" in text and "FLICKR_API_KEY" in text
    assert "--api-base" not in text and "--backoff" not in text


def test_as_a_real_process(server, tmp_path):
    env = {**os.environ, "FLICKR_API_KEY": server.api_key}
    done = subprocess.run(
        [sys.executable, "-m", "training", *cli(server, tmp_path, "--limit", "3", "--no-check")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "mila").iterdir()) == [
        "50000000000.jpg",
        "50000000003.jpg",
        "50000000006.jpg",
    ]


def test_ctrl_c_stops_at_once_and_leaves_only_whole_files(tmp_path):
    fake = FakeFlickr(sample_photos(90), image_delay=0.05).start()
    try:
        env = {**os.environ, "FLICKR_API_KEY": fake.api_key}
        process = subprocess.Popen(
            [sys.executable, "-m", "training", *cli(fake, tmp_path, "--negatives", "--no-check")],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            # a shell's background job ignores SIGINT; give the child the default handler
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        deadline = time.monotonic() + 60
        while fake.count("image") < 8 and time.monotonic() < deadline:
            time.sleep(0.02)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    finally:
        fake.stop()
    assert process.returncode == 130
    assert err.strip().endswith("interrupted")
    assert [p for p in tmp_path.rglob("*") if p.name.endswith(".part")] == []
    files = {p.relative_to(tmp_path).as_posix() for p in tmp_path.glob("*/*.jpg")}
    assert 8 <= len(files) < 60
    with open(tmp_path / "manifest.csv", newline="", encoding="utf-8") as handle:
        assert {row["file"] for row in csv.DictReader(handle)} == files

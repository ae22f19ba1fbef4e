"""`isit feedback pull`: photos flagged through POST /api/feedback (HTTP, the dev host) come
back into INBOX/<claimed label>/ byte for byte, from Azurite (the real SDK) or a folder; a
second pull adds nothing; damaged or hostile items are refused, never written."""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import sys

import modelgen
import requests
from feedback_helpers import feedback_form, serving_feedback, start_azurite
from function_helpers import ROOT

from training.cli import main
from training.loop.inbox import cell_value, safe_folder_name, text_cell

CONTAINER = "feedback-pull"
FLAGGED = [  # (photo, claimed label, model's answer, extension)
    (modelgen.photo("red", seed=21), "blue_thing", "red_thing", "jpg"),
    (modelgen.photo("blue", (300, 200), "PNG", seed=22), "none", "blue_thing", "png"),
    (modelgen.photo("green", (90, 120), "WEBP", seed=23), "green_thing", "unknown", "webp"),
]


def _flag_three(host) -> dict[str, tuple[bytes, str, str, str]]:
    ids = {}
    for photo, label, answer, ext in FLAGGED:
        body, content_type = feedback_form(photo, label, answer=answer, model_version="v-7")
        reply = requests.post(
            host.url + "/api/feedback",
            data=body,
            headers={"Content-Type": content_type},
            timeout=30,
        )
        assert reply.status_code == 202, reply.text
        ids[reply.json()["id"]] = (photo, label, answer, ext)
    return ids


def _inbox_files(inbox) -> dict[str, bytes]:
    return {
        p.relative_to(inbox).as_posix(): p.read_bytes()
        for p in inbox.rglob("*")
        if p.is_file() and p.name not in ("manifest.csv", ".isit-pulled.json")
    }


def _check_pulled(inbox, ids, capsys, source: list[str]) -> None:
    files = _inbox_files(inbox)
    assert files == {f"{label}/{i}.{ext}": photo for i, (photo, label, _, ext) in ids.items()}
    with open(inbox / "manifest.csv", newline="", encoding="utf-8") as handle:
        rows = {row["id"]: row for row in csv.DictReader(handle)}
    assert set(rows) == set(ids)
    for item_id, (_, label, answer, ext) in ids.items():
        row = rows[item_id]
        assert row["file"] == f"{label}/{item_id}.{ext}"
        assert (row["claimed_label"], row["model_answer"], row["model_version"]) == (
            label,
            answer,
            "v-7",
        )
        assert row["received"].endswith("Z")
    # Again: nothing new, nothing rewritten, the manifest unchanged.
    manifest = (inbox / "manifest.csv").read_bytes()
    capsys.readouterr()
    assert main(["feedback", "pull", *source, "--out", str(inbox)]) == 0
    assert "0 new photos" in capsys.readouterr().out
    assert _inbox_files(inbox) == files
    assert (inbox / "manifest.csv").read_bytes() == manifest


def test_pull_from_azurite_after_http_feedback(colour_model_path, tmp_path, capsys):
    azurite = start_azurite(tmp_path / "azurite")
    try:
        with serving_feedback(colour_model_path, azurite.connection_string, CONTAINER) as host:
            ids = _flag_three(host)
        inbox = tmp_path / "inbox"
        source = [azurite.connection_string, "--container", CONTAINER]
        assert main(["feedback", "pull", *source, "--out", str(inbox)]) == 0
        out = capsys.readouterr().out
        assert "3 new photos" in out and "AccountKey" not in out
        _check_pulled(inbox, ids, capsys, source)
        # A fourth flagged photo later: only it comes in.
        with serving_feedback(colour_model_path, azurite.connection_string, CONTAINER) as host:
            body, ctype = feedback_form(modelgen.photo("red", seed=40), "red_thing")
            reply = requests.post(
                host.url + "/api/feedback", data=body, headers={"Content-Type": ctype}
            )
            assert reply.status_code == 202
        assert main(["feedback", "pull", *source, "--out", str(inbox)]) == 0
        out = capsys.readouterr().out
        assert "1 new photo from" in out and "(3 pulled before)" in out
        assert (inbox / "red_thing" / f"{reply.json()['id']}.jpg").is_file()
    finally:
        azurite.stop()


def test_pull_from_a_feedback_folder_after_http_feedback(colour_model_path, tmp_path, capsys):
    store = tmp_path / "feedback"
    with serving_feedback(colour_model_path, f"file:{store}", CONTAINER) as host:
        ids = _flag_three(host)
    inbox = tmp_path / "inbox"
    assert main(["feedback", "pull", str(store), "--out", str(inbox)]) == 0
    _check_pulled(inbox, ids, capsys, [str(store)])
    # The owner moves a photo away: it is still remembered, so not pulled again.
    moved = next((inbox / "none").iterdir())
    moved.rename(tmp_path / moved.name)
    assert main(["feedback", "pull", str(store), "--out", str(inbox)]) == 0
    assert not (inbox / "none" / moved.name).exists()


def _item(store, item_id: str, data: bytes, **record) -> None:
    day = store / "items" / "2026-12-04"
    day.mkdir(parents=True, exist_ok=True)
    (day / f"{item_id}.jpg").write_bytes(data)
    base = {
        "id": item_id,
        "received": "2026-12-04T10:00:00Z",
        "label": "red_thing",
        "answer": "blue_thing",
        "model_version": "v1",
        "photo": f"{item_id}.jpg",
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
    }
    (day / f"{item_id}.json").write_text(json.dumps({**base, **record}), encoding="utf-8")


def test_damaged_and_hostile_items_are_refused_and_labels_sanitised(tmp_path, capsys):
    store, inbox = tmp_path / "store", tmp_path / "inbox"
    photo = modelgen.photo("red", seed=3)
    _item(store, "a" * 32, photo, sha256="0" * 64)  # photo changed since the record
    _item(store, "b" * 32, photo, photo="../../escape.jpg")  # names a photo elsewhere
    _item(store, "c" * 32, photo, label="../../etc")  # a label that is a path
    _item(store, "d" * 32, photo, label='=HYPERLINK("x")', model_version="+1")
    assert main(["feedback", "pull", str(store), "--out", str(inbox)]) == 1  # some skipped
    out = capsys.readouterr().out
    assert "SHA-256 differs" in out and "names no photo of its own" in out
    assert sorted(_inbox_files(inbox)) == [f"HYPERLINK_x/{'d' * 32}.jpg", f"etc/{'c' * 32}.jpg"]
    files = _inbox_files(inbox)
    assert len(files) == 2 and all(data == photo for data in files.values())
    assert all(".." not in name and not name.startswith("/") for name in files)
    assert not (tmp_path / "escape.jpg").exists()
    manifest = (inbox / "manifest.csv").read_text(encoding="utf-8")
    assert "'=HYPERLINK" in manifest and ",'+1," in manifest
    # The refused ones are tried again next time (not remembered); the good ones are not.
    assert main(["feedback", "pull", str(store), "--out", str(inbox)]) == 1
    assert "0 new photos" in (out := capsys.readouterr().out) and "(2 pulled before)" in out


def test_safe_folder_names_and_text_cells():
    assert safe_folder_name("elsa") == "elsa"
    assert safe_folder_name("darth vader") == "darth vader"
    assert safe_folder_name("../../x") == "x"
    assert safe_folder_name("a/b\\c") == "a_b_c"
    assert safe_folder_name(".hidden") == "hidden"
    assert safe_folder_name("") == "none" and safe_folder_name(None) == "none"
    assert safe_folder_name("CON") == "CON_"
    assert safe_folder_name("élan") == "élan"
    assert len(safe_folder_name("x" * 500)) == 64
    for text in ("=1+1", "+1", "-1", "@x", "plain", ""):
        assert cell_value(text_cell(text)) == text
    assert text_cell("=1+1") == "'=1+1"


def test_a_bad_source_is_one_line_and_exit_1(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "training",
            "feedback",
            "pull",
            "AccountKey=secret;nonsense",
            "--out",
            str(tmp_path / "in"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and "secret" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1

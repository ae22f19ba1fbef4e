"""``isit feedback pull``: new flagged photos from the feedback store into an inbox.

Per record not pulled before: read it, check its fields, read its photo (the name the
record gives, in the record's own folder only), check the photo's size and SHA-256 against
the record, write it to ``INBOX/<claimed label>/``, add a manifest row, remember the id.
An item that fails a check is reported and left for the next pull (not remembered).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from training.json_types import JsonObject
from training.loop.feedback_sources import FeedbackSource, SourceError
from training.loop.inbox import Inbox, ManifestRow, safe_folder_name

_PHOTO_NAME = re.compile(r"[0-9A-Za-z_-]{1,64}\.[0-9a-z]{1,8}")


@dataclass
class PullResult:
    added: list[Path] = field(default_factory=list)  # photos written this time
    already: int = 0  # items pulled before
    problems: list[str] = field(default_factory=list)  # items skipped, and why


class BadItem(Exception):
    """One item cannot be pulled (the others still are)."""


def _text(record: JsonObject, key: str) -> str:
    value = record.get(key)
    return "" if value is None else str(value)


def _checked_record(source: FeedbackSource, name: str) -> JsonObject:
    try:
        record = json.loads(source.read(name))
    except ValueError as exc:
        raise BadItem(f"{name}: the record is not JSON ({exc})") from exc
    if not isinstance(record, dict):
        raise BadItem(f"{name}: the record is not a JSON object")
    item_id = name.rsplit("/", 1)[1][: -len(".json")]
    if str(record.get("id")) != item_id:
        raise BadItem(f"{name}: the record's id {record.get('id')!r} is not its file's name")
    photo = _text(record, "photo")
    if not _PHOTO_NAME.fullmatch(photo) or not photo.startswith(item_id + "."):
        raise BadItem(f"{name}: the record names no photo of its own ({photo[:80]!r})")
    if not re.fullmatch(r"[0-9a-f]{64}", _text(record, "sha256")):
        raise BadItem(f"{name}: the record has no SHA-256 of its photo")
    return record


def _checked_photo(source: FeedbackSource, name: str, record: JsonObject) -> bytes:
    photo_name = name.rsplit("/", 1)[0] + "/" + _text(record, "photo")
    data = source.read(photo_name)
    if hashlib.sha256(data).hexdigest() != record["sha256"]:
        raise BadItem(
            f"{photo_name}: its SHA-256 differs from the record's ({len(data)} bytes read, "
            f"{record.get('bytes')} recorded): damaged or changed; left where it is"
        )
    return data


def _pull_one(source: FeedbackSource, inbox: Inbox, name: str) -> tuple[str, Path, ManifestRow]:
    record = _checked_record(source, name)
    data = _checked_photo(source, name, record)
    label = _text(record, "label")
    folder = safe_folder_name(label)
    written = inbox.add_photo(folder, _text(record, "photo"), data)
    relative = written.relative_to(inbox.root).as_posix()
    row = ManifestRow(
        id=str(record["id"]),
        file=relative,
        claimed_label=label,
        model_answer=_text(record, "answer"),
        model_version=_text(record, "model_version"),
        received=_text(record, "received"),
    )
    return row.id, written, row


def pull(
    source: FeedbackSource,
    inbox_dir: Path,
    *,
    progress: Callable[[str], None] | None = None,
) -> PullResult:
    """Pull every item of ``source`` not pulled into ``inbox_dir`` before."""
    inbox = Inbox(inbox_dir)
    inbox_dir.mkdir(parents=True, exist_ok=True)
    pulled = inbox.pulled()
    in_manifest = inbox.manifest_ids()
    result = PullResult()
    for name in source.record_names():
        item_id = name.rsplit("/", 1)[1][: -len(".json")]
        if item_id in pulled:
            result.already += 1
            continue
        try:
            item_id, written, row = _pull_one(source, inbox, name)
        except (BadItem, SourceError) as exc:
            result.problems.append(str(exc.message if isinstance(exc, SourceError) else exc))
            continue
        if item_id not in in_manifest:  # a pull cut short after the row: not twice
            inbox.append_manifest([row])
        pulled[item_id] = row.file
        inbox.remember(pulled)  # as each lands: a pull cut short keeps what it finished
        result.added.append(written)
        if progress is not None:
            progress(f"{row.file}  (claimed: {row.claimed_label or 'none'})")
    return result

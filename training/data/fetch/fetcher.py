"""Fetch a user's tagged Flickr photos into one folder per tag (plus negatives), resumably.

Plan: resolve the user; look at the first result page of every tag (an empty tag is an
error before anything is downloaded); fill each tag's folder, then the negatives folder.
A class is "filled" when it holds ``limit`` photos (or every photo of the tag): failed
downloads are replaced by the next candidates, photos already on disk count and are
skipped, so a second run downloads only what is missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path

from tqdm import tqdm

from isit.errors import ImageError
from isit.imaging import DEFAULT_LIMITS, DecodeLimits, decode
from training.data.fetch.fetch_errors import (
    KEY_HELP_URL,
    InvalidOption,
    MissingApiKey,
    NetworkError,
    NoPhotos,
)
from training.data.fetch.flickr import (
    API_BASE,
    MAX_PER_PAGE,
    SIZE_ORDER,
    FlickrClient,
    Photo,
    User,
    clean_tag,
    license_name,
    size_fallbacks,
)
from training.data.fetch.http import (
    ConnectionLost,
    HttpClient,
    InvalidResponse,
    ResponseTooLarge,
    RetryPolicy,
    ServerBusy,
    TooSlow,
)
from training.data.fetch.store import EXTENSIONS, ManifestRow, PhotoStore

UNREACHABLE_ABORT = 3  # this many downloads in a row that could not even connect: stop
MANIFEST_EVERY = 25  # rewrite the manifest after this many new files (crash safety)
SPLIT_NAMES = frozenset({"train", "val", "valid", "validation", "test"})  # doctor's split folders


@dataclass(frozen=True)
class FetchOptions:
    user: str
    tags: tuple[str, ...]
    out: Path
    limit: int | None = None  # per tag
    negatives: bool = False
    negatives_limit: int | None = None  # default: as many as the largest tag folder
    size: str = "z"
    workers: int = 4
    api_base: str = API_BASE
    per_page: int = MAX_PER_PAGE
    retry: RetryPolicy = field(default_factory=RetryPolicy)


@dataclass(frozen=True)
class Failure:
    photo_id: str
    label: str
    reason: str
    unreachable: bool = False  # no connection at all (as opposed to a bad file)


@dataclass
class ClassOutcome:
    label: str
    already_had: int = 0
    downloaded: int = 0
    failed: int = 0

    @property
    def total(self) -> int:
        return self.already_had + self.downloaded


@dataclass
class FetchReport:
    user: User
    out: Path
    classes: list[ClassOutcome]
    failures: list[Failure]
    ambiguous: list[str]  # photos carrying several of the requested tags: not kept
    manifest_rows: int
    stale_temps_removed: int


def parse_tags(raw: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """``"Mila, dog"`` -> ``("mila", "dog")``: Flickr's clean form, duplicates dropped."""
    parts = raw.split(",") if isinstance(raw, str) else list(raw)
    tags: list[str] = []
    for part in parts:
        if not part.strip():
            continue
        tag = clean_tag(part)
        if not tag:
            raise InvalidOption(
                f"The tag {part.strip()!r} has no letters or digits; Flickr tags like "
                "'mila' or 'darthvader' work."
            )
        if tag in SPLIT_NAMES:
            raise InvalidOption(
                f"A class folder named {tag!r} would be read as a train/val/test split "
                "folder by the dataset check; tag those photos differently on Flickr."
            )
        if tag not in tags:
            tags.append(tag)
    if not tags:
        raise InvalidOption("Give at least one tag, e.g. --tags mila (or --tags cat,dog).")
    return tuple(tags)


def negatives_label(tags: tuple[str, ...]) -> str:
    return f"not_{tags[0]}" if len(tags) == 1 else "other"


class FlickrFetcher:
    def __init__(
        self,
        options: FetchOptions,
        api_key: str,
        *,
        http: HttpClient | None = None,
        progress: bool | None = None,
        limits: DecodeLimits = DEFAULT_LIMITS,
    ) -> None:
        if not api_key or not api_key.strip():
            raise MissingApiKey(
                f"FLICKR_API_KEY is not set. Get a free API key at {KEY_HELP_URL}, then "
                "run: export FLICKR_API_KEY=<your key>"
            )
        if options.size not in SIZE_ORDER:
            raise InvalidOption(f"--size must be one of {', '.join(SIZE_ORDER)}.")
        if not 1 <= options.per_page <= MAX_PER_PAGE:
            raise InvalidOption(f"per_page must be within 1..{MAX_PER_PAGE}.")
        for name, value in (
            ("--limit", options.limit),
            ("--negatives-limit", options.negatives_limit),
            ("--workers", options.workers),
        ):
            if value is not None and value < 1:
                raise InvalidOption(f"{name} must be at least 1 (got {value}).")
        self.options = options
        self.tags = parse_tags(options.tags)
        self.negatives_label = negatives_label(self.tags)
        if options.negatives and self.negatives_label in self.tags:
            raise InvalidOption(
                f"A tag is called {self.negatives_label!r}, the name of the negatives folder; "
                "fetch the negatives in a separate run without that tag."
            )
        self.sizes = size_fallbacks(options.size)
        self.http = http or HttpClient(options.retry, pool_size=options.workers * 2)
        self.client = FlickrClient(api_key.strip(), self.http, options.api_base)
        self.store = PhotoStore(options.out)
        self.progress = progress
        self.limits = limits
        self.rows: dict[str, ManifestRow] = {}
        self.existing: dict[str, Path] = {}
        self.claimed: set[str] = set()
        self.failures: list[Failure] = []
        self.ambiguous: list[str] = []
        self._new_since_manifest = 0

    # -- the run -------------------------------------------------------------------------
    def run(self) -> FetchReport:
        # Everything that can be wrong with the options is found before DATA_DIR is touched.
        user = self.client.resolve_user(self.options.user)
        first_pages = {
            tag: self.client.search_page(user, [tag], self.sizes, 1, self.options.per_page)
            for tag in self.tags
        }
        empty = [tag for tag, page in first_pages.items() if page.total == 0 and not page.photos]
        if empty:
            raise NoPhotos(
                f"{user.username} has no public photos tagged {', '.join(empty)}. Check "
                "the spelling (Flickr tags are lower case, without spaces) and that "
                "the photos are public."
            )
        self.store.prepare()
        stale = self.store.remove_stale_temps()
        self.existing = self.store.existing()
        self.rows = self._rows_for_existing_files()
        outcomes: list[ClassOutcome] = []
        try:
            tagset = frozenset(self.tags)
            with ThreadPoolExecutor(self.options.workers, thread_name_prefix="fetch") as pool:
                for tag in self.tags:
                    candidates = self._positives(
                        self.client.iter_search(
                            user, [tag], self.sizes, self.options.per_page, first=first_pages[tag]
                        ),
                        tagset,
                    )
                    outcomes.append(
                        self._fill(
                            pool, tag, candidates, self.options.limit, first_pages[tag].total
                        )
                    )
                if self.options.negatives:
                    target = self.options.negatives_limit or max(o.total for o in outcomes)
                    candidates = (
                        photo
                        for photo in self.client.iter_search(
                            user, None, self.sizes, self.options.per_page
                        )
                        if photo.tags is not None and not photo.tags & tagset
                    )
                    outcomes.append(self._fill(pool, self.negatives_label, candidates, target))
        finally:
            manifest_rows = self.store.write_manifest(self.rows.values())
        return FetchReport(
            user=user,
            out=self.store.root,
            classes=outcomes,
            failures=self.failures,
            ambiguous=self.ambiguous,
            manifest_rows=manifest_rows,
            stale_temps_removed=stale,
        )

    def _rows_for_existing_files(self) -> dict[str, ManifestRow]:
        """The manifest's rows, following files the user moved to another class folder."""
        rows = {}
        for photo_id, row in self.store.load_manifest().items():
            path = self.existing.get(photo_id)
            if path is not None:
                rows[photo_id] = replace(
                    row, file=self.store.relative(path), label=path.parent.name
                )
        return rows

    def _positives(self, photos: Iterator[Photo], tagset: frozenset[str]) -> Iterator[Photo]:
        for photo in photos:
            if photo.tags is not None and len(photo.tags & tagset) > 1:
                if photo.id not in self.ambiguous:
                    self.ambiguous.append(photo.id)
                continue
            yield photo

    # -- one class folder ----------------------------------------------------------------
    def _fill(
        self,
        pool: ThreadPoolExecutor,
        label: str,
        candidates: Iterator[Photo],
        target: int | None,
        available: int | None = None,
    ) -> ClassOutcome:
        """Download candidates into ``label/`` until it holds ``target`` photos (None: all).

        ``available`` (the search's total) only sizes the progress bar when there is no target.
        """
        outcome = ClassOutcome(label, already_had=self._count_in(label))
        need = None if target is None else max(0, target - outcome.already_had)
        if need == 0:
            self._add_missing_rows(label, candidates)
            return outcome
        window = self.options.workers * 2
        in_flight: dict[Future[ManifestRow | Failure], Photo] = {}
        exhausted = False
        unreachable_streak = 0
        total = need if need is not None else max(0, (available or 0) - outcome.already_had)
        bar = tqdm(total=total or None, desc=label, unit="photo", disable=self._bar_disabled())
        try:
            while True:
                while (
                    not exhausted
                    and len(in_flight) < window
                    and (need is None or outcome.downloaded + len(in_flight) < need)
                ):
                    photo = next(candidates, None)
                    if photo is None:
                        exhausted = True
                    elif photo.id in self.existing:
                        self._remember_existing(photo)
                    elif photo.id not in self.claimed:
                        self.claimed.add(photo.id)
                        in_flight[pool.submit(self._download, photo, label)] = photo
                if not in_flight:
                    break
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in done:
                    del in_flight[future]
                    result = future.result()
                    self._record(result, outcome)
                    bar.update(1 if isinstance(result, ManifestRow) else 0)
                    unreachable_streak = (
                        unreachable_streak + 1
                        if isinstance(result, Failure) and result.unreachable
                        else 0
                    )
                    if unreachable_streak >= UNREACHABLE_ABORT:
                        raise NetworkError(
                            f"Stopped while downloading into {label}/ "
                            f"({outcome.downloaded} new photos saved): the photo server cannot "
                            "be reached. Check the internet connection, then run the same "
                            "command again to continue."
                        )
        except BaseException:
            # Interrupted (Ctrl-C, network down, API error while paging): queued downloads
            # are cancelled, running ones finish (their files are whole) and are recorded.
            for future in in_flight:
                future.cancel()
            for future in in_flight:
                if not future.cancelled():
                    try:
                        self._record(future.result(), outcome)
                    except Exception:  # the first error is the one to report
                        continue
            raise
        finally:
            bar.close()
        return outcome

    def _add_missing_rows(self, label: str, candidates: Iterator[Photo]) -> None:
        """Manifest rows for files of ``label`` that have none (a run killed before writing it)."""
        unlisted = {
            photo_id
            for photo_id, path in self.existing.items()
            if path.parent.name == label and photo_id not in self.rows
        }
        for photo in candidates:
            if not unlisted:
                return
            if photo.id in unlisted:
                self._remember_existing(photo)
                unlisted.discard(photo.id)

    def _bar_disabled(self) -> bool | None:
        return None if self.progress is None else not self.progress

    def _count_in(self, label: str) -> int:
        return sum(1 for path in self.existing.values() if path.parent.name == label)

    def _record(self, result: ManifestRow | Failure, outcome: ClassOutcome) -> None:
        if isinstance(result, Failure):
            outcome.failed += 1
            self.failures.append(result)
            return
        outcome.downloaded += 1
        self.rows[result.photo_id] = result
        self.existing[result.photo_id] = self.store.root / result.file
        self._new_since_manifest += 1
        if self._new_since_manifest >= MANIFEST_EVERY:
            self.store.write_manifest(self.rows.values())
            self._new_since_manifest = 0

    def _remember_existing(self, photo: Photo) -> None:
        """A file from an earlier run whose manifest row was lost (e.g. a killed run)."""
        if photo.id not in self.rows:
            path = self.existing[photo.id]
            self.rows[photo.id] = self._row(photo, path.parent.name, path)

    def _row(self, photo: Photo, label: str, path: Path) -> ManifestRow:
        return ManifestRow(
            photo_id=photo.id,
            file=self.store.relative(path),
            label=label,
            owner=photo.owner,
            owner_name=photo.owner_name,
            license=photo.license,
            license_name=license_name(photo.license),
            title=photo.title,
            source_url=photo.page_url,
            image_url=photo.url or "",
        )

    # -- one photo (worker thread) -------------------------------------------------------
    def _download(self, photo: Photo, label: str) -> ManifestRow | Failure:
        if not photo.url:
            return Failure(photo.id, label, f"no image URL for sizes {', '.join(self.sizes)}")
        try:
            fetched = self.http.get(photo.url, max_bytes=self.limits.max_bytes)
        except ConnectionLost as exc:
            return Failure(photo.id, label, f"download failed ({exc.problem})")
        except NetworkError as exc:
            return Failure(photo.id, label, f"download failed ({exc.problem})", unreachable=True)
        except (ServerBusy, ResponseTooLarge, InvalidResponse, TooSlow) as exc:
            return Failure(photo.id, label, exc.problem)
        if fetched.status != 200:
            return Failure(photo.id, label, f"the server answered HTTP {fetched.status}")
        try:
            decoded = decode(fetched.content, limits=self.limits)
        except ImageError as exc:
            return Failure(photo.id, label, exc.message)
        except Exception as exc:  # a decoder bug must not end a long run: list it
            return Failure(photo.id, label, f"could not be decoded ({type(exc).__name__})")
        extension = EXTENSIONS.get(decoded.format, decoded.format.lower())
        path = self.store.save(label, photo.id, extension, fetched.content)
        return self._row(photo, label, path)


def fetch_flickr(
    options: FetchOptions,
    api_key: str,
    *,
    http: HttpClient | None = None,
    progress: bool | None = None,
) -> FetchReport:
    """Download the photos; typed :class:`FetchError` on anything the user must fix."""
    fetcher = FlickrFetcher(options, api_key, http=http, progress=progress)
    try:
        return fetcher.run()
    finally:
        if http is None:
            fetcher.http.close()

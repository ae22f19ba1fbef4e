"""The few Flickr REST API calls `fetch` needs: find a user, page through their photos.

API key only (no OAuth): unauthenticated calls see public photos, which is what a
training set shared with a web page should be built from anyway.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from training.data.fetch.fetch_errors import (
    KEY_HELP_URL,
    ApiKeyRejected,
    FlickrApiError,
    UserNotFound,
)
from training.data.fetch.http import HttpClient
from training.json_types import JsonObject

API_BASE = "https://api.flickr.com/services/rest/"
# e.g. 12037949632@N01; what Flickr calls an NSID (the user id of every API call).
NSID_RE = re.compile(r"^\d+@[A-Z]\d{2}$")
PHOTO_ID_RE = re.compile(r"^\d{1,20}$")
MAX_PER_PAGE = 500  # the API's own maximum
# Size suffixes, largest first: b 1024 px, c 800, z 640, w 400, n 320, m 240 (longest side).
SIZE_ORDER = ("b", "c", "z", "w", "n", "m")
SIZE_PIXELS = {"b": 1024, "c": 800, "z": 640, "w": 400, "n": 320, "m": 240}
TRANSIENT_CODES = frozenset({105, 106})  # "service currently unavailable", "write failed"
LICENSES = {  # flickr.photos.licenses.getInfo ids
    "0": "All Rights Reserved",
    "1": "CC BY-NC-SA 2.0",
    "2": "CC BY-NC 2.0",
    "3": "CC BY-NC-ND 2.0",
    "4": "CC BY 2.0",
    "5": "CC BY-SA 2.0",
    "6": "CC BY-ND 2.0",
    "7": "No known copyright restrictions",
    "8": "United States Government Work",
    "9": "CC0 1.0",
    "10": "Public Domain Mark 1.0",
}


def clean_tag(tag: str) -> str:
    """A tag as Flickr stores it for search: lower case, letters and digits only."""
    return "".join(ch for ch in tag.lower() if ch.isalnum())


def license_name(license_id: str) -> str:
    return LICENSES.get(license_id, f"Flickr license {license_id}" if license_id else "unknown")


def size_fallbacks(size: str) -> tuple[str, ...]:
    """The requested size, then the smaller ones: small originals lack the large sizes."""
    return SIZE_ORDER[SIZE_ORDER.index(size) :]


@dataclass(frozen=True)
class User:
    nsid: str
    username: str


@dataclass(frozen=True)
class Photo:
    """One search result, with what attribution and downloading need."""

    id: str
    owner: str
    owner_name: str
    title: str
    license: str
    tags: frozenset[str] | None  # None when the answer carried no tags extra
    url: str | None  # the largest wanted size the photo has
    size: str | None

    @property
    def page_url(self) -> str:
        return f"https://www.flickr.com/photos/{quote(self.owner, safe='@')}/{self.id}/"


@dataclass(frozen=True)
class SearchPage:
    page: int
    pages: int
    total: int
    photos: list[Photo]
    skipped: int  # entries without a valid id


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def parse_photo(entry: JsonObject, sizes: tuple[str, ...]) -> Photo | None:
    photo_id = str(entry.get("id", ""))
    if not PHOTO_ID_RE.match(photo_id):
        return None  # the id becomes a file name: anything but digits is refused
    url, size = None, None
    for suffix in sizes:
        candidate = entry.get(f"url_{suffix}")
        if isinstance(candidate, str) and candidate.startswith(("https://", "http://")):
            url, size = candidate, suffix
            break
    raw_tags = entry.get("tags")
    tags = frozenset(raw_tags.split()) if isinstance(raw_tags, str) else None
    title = entry.get("title")
    if isinstance(title, dict):  # some methods wrap text as {"_content": ...}
        title = title.get("_content")
    return Photo(
        id=photo_id,
        owner=str(entry.get("owner", "")),
        owner_name=str(entry.get("ownername", "")),
        title=str(title or ""),
        license=str(entry.get("license", "")),
        tags=tags,
        url=url,
        size=size,
    )


class FlickrClient:
    def __init__(self, api_key: str, http: HttpClient, api_base: str = API_BASE) -> None:
        self.api_key = api_key
        self.http = http
        self.api_base = api_base

    def call(self, method: str, **params: str) -> JsonObject:
        """One REST call; the answer's JSON when ``stat`` is ``ok``, else a typed error."""
        query = {
            "method": method,
            "api_key": self.api_key,
            "format": "json",
            "nojsoncallback": "1",
            **params,
        }
        policy = self.http.policy
        for attempt in range(policy.attempts):
            fetched = self.http.get(self.api_base, query)
            if fetched.status != 200:
                raise FlickrApiError(
                    f"Flickr answered HTTP {fetched.status} to {method}. Try again later; if "
                    "it persists, check https://status.flickr.net/."
                )
            try:
                answer = json.loads(fetched.content)
            except ValueError as exc:
                raise FlickrApiError(
                    f"Flickr's answer to {method} was not JSON; is something (a proxy, a "
                    "captive portal) in between? Try again later."
                ) from exc
            if not isinstance(answer, dict):
                raise FlickrApiError(f"Flickr's answer to {method} was not a JSON object.")
            if answer.get("stat") == "ok":
                return answer
            code = _int(answer.get("code"), -1)
            message = str(answer.get("message", "no message"))
            if code in TRANSIENT_CODES and attempt < policy.attempts - 1:
                self.http.sleep(policy.backoff(attempt))
                continue
            if code == 100:
                raise ApiKeyRejected(
                    f"Flickr rejected the API key in FLICKR_API_KEY ({message}). Copy the key "
                    f"(not the secret) from your Flickr app, or get one at {KEY_HELP_URL}."
                )
            raise FlickrApiError(
                f"Flickr refused {method}: {message} (error {code}).", flickr_code=code
            )
        raise FlickrApiError(f"Flickr stayed unavailable for {method}. Try again later.")

    def resolve_user(self, name: str) -> User:
        """A user name, NSID or profile URL to the user's NSID."""
        name = name.strip()
        if NSID_RE.match(name):
            return User(nsid=name, username=name)
        if "flickr.com/" in name:
            found = self._lookup_url(name if "://" in name else f"https://{name}")
        else:
            found = self._find_by_username(name)
            if found is None:  # people often know the alias in their profile URL instead
                found = self._lookup_url(f"https://www.flickr.com/photos/{quote(name)}/")
        if found is None:
            raise UserNotFound(
                f"Flickr has no user {name!r}. Use the screen name shown on the profile, "
                "the user id (like 12345678@N00) or the profile URL."
            )
        return found

    def _find_by_username(self, name: str) -> User | None:
        try:
            answer = self.call("flickr.people.findByUsername", username=name)
        except FlickrApiError as exc:
            if exc.flickr_code == 1:
                return None
            raise
        return _user_from(answer, name)

    def _lookup_url(self, url: str) -> User | None:
        try:
            answer = self.call("flickr.urls.lookupUser", url=url)
        except FlickrApiError as exc:
            if exc.flickr_code == 1:
                return None
            raise
        return _user_from(answer, url)

    def search_page(
        self, user: User, tags: list[str] | None, sizes: tuple[str, ...], page: int, per_page: int
    ) -> SearchPage:
        extras = ",".join(["tags", "license", "owner_name", *(f"url_{s}" for s in sizes)])
        params = {
            "user_id": user.nsid,
            "extras": extras,
            "media": "photos",
            "sort": "date-posted-desc",
            "per_page": str(per_page),
            "page": str(page),
        }
        if tags:
            params["tags"] = ",".join(tags)
            params["tag_mode"] = "any"
        try:
            answer = self.call("flickr.photos.search", **params)
        except FlickrApiError as exc:
            if exc.flickr_code == 2:  # "Unknown user"
                raise UserNotFound(
                    f"Flickr has no user with the id {user.nsid!r}. Check the id on the "
                    "user's profile, or pass their screen name instead."
                ) from exc
            raise
        block = answer.get("photos")
        if not isinstance(block, dict):
            raise FlickrApiError("Flickr's search answer had no 'photos' block.")
        entries = block.get("photo") or []
        photos = [p for p in (parse_photo(e, sizes) for e in entries if isinstance(e, dict)) if p]
        return SearchPage(
            page=_int(block.get("page"), page),
            pages=_int(block.get("pages")),
            total=_int(block.get("total")),
            photos=photos,
            skipped=len(entries) - len(photos),
        )

    def iter_search(
        self,
        user: User,
        tags: list[str] | None,
        sizes: tuple[str, ...],
        per_page: int = MAX_PER_PAGE,
        first: SearchPage | None = None,
    ) -> Iterator[Photo]:
        """Every photo of a search, one page at a time, each photo once.

        Flickr may repeat a photo across pages when photos are added while paging.
        """
        seen: set[str] = set()
        page = first or self.search_page(user, tags, sizes, 1, per_page)
        while True:
            for photo in page.photos:
                if photo.id not in seen:
                    seen.add(photo.id)
                    yield photo
            if not page.photos or page.page >= page.pages:
                return
            page = self.search_page(user, tags, sizes, page.page + 1, per_page)


def _user_from(answer: JsonObject, asked: str) -> User | None:
    user = answer.get("user")
    if not isinstance(user, dict):
        return None
    nsid = str(user.get("nsid") or user.get("id") or "")
    if not NSID_RE.match(nsid):
        return None
    username = user.get("username")
    if isinstance(username, dict):
        username = username.get("_content")
    return User(nsid=nsid, username=str(username or asked))

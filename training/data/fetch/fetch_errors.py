"""Typed errors of `fetch`: each message is one line saying what happened and what to do."""

from __future__ import annotations

from isit.errors import IsitError

KEY_HELP_URL = "https://www.flickr.com/services/api/misc.api_keys.html"


class FetchError(IsitError):
    """Base class: photos could not be fetched.

    ``problem`` is the short cause ("connection refused", "HTTP 503"), for per-photo lists.
    """

    code = "fetch_error"

    def __init__(self, message: str, problem: str = "") -> None:
        super().__init__(message)
        self.problem = problem or message


class MissingApiKey(FetchError):
    code = "flickr_key_missing"


class ApiKeyRejected(FetchError):
    code = "flickr_key_rejected"


class UserNotFound(FetchError):
    code = "flickr_user_not_found"


class NoPhotos(FetchError):
    """The user has no (public) photos with a requested tag."""

    code = "no_photos"


class NetworkError(FetchError):
    """The server could not be reached, or kept failing after every retry."""

    code = "network_error"


class FlickrApiError(FetchError):
    """Any other error answer of the Flickr API (or an answer that is not its JSON)."""

    code = "flickr_api_error"

    def __init__(self, message: str, flickr_code: int | None = None) -> None:
        super().__init__(message, problem=f"Flickr error {flickr_code}")
        self.flickr_code = flickr_code


class InvalidOption(FetchError):
    """A command-line value that cannot work (empty tag, bad output folder...)."""

    code = "invalid_option"


class StorageError(FetchError):
    """DATA_DIR cannot be written (disk full, permissions)."""

    code = "cannot_write"

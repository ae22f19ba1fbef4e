"""Download training photos from photo services into DATA_DIR/<class>/ (Flickr for now).

``python -m training fetch flickr --user NAME --tags mila --out DATA_DIR [--negatives]``;
see :mod:`training.fetch.command`. The library entry point is :func:`fetch_flickr`.
"""

from training.fetch.fetcher import FetchOptions, FetchReport, fetch_flickr

__all__ = ["FetchOptions", "FetchReport", "fetch_flickr"]

"""Download training photos from photo services into DATA_DIR/<class>/ (Flickr for now).

``isit fetch flickr --user NAME --tags mila --out DATA_DIR [--negatives]``;
see :mod:`training.cli.fetch`. The library entry point is :func:`fetch_flickr`.
"""

from training.data.fetch.fetcher import FetchOptions, FetchReport, fetch_flickr

__all__ = ["FetchOptions", "FetchReport", "fetch_flickr"]

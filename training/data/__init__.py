"""The photos: checking a folder, fetching photos, the feature cache and table, sample photos."""

"""Every pair of 64-bit hashes within a Hamming distance, without comparing all pairs.

Multi-index hashing (Norouzi, Punjani and Fleet, 2012), the general pigeonhole principle:
cut the 64 bits into ``m`` bands; two hashes at most ``t`` bits apart differ by at most
``t // m`` bits in at least one band. So each query looks up, in one table per band, the
entries whose band is within ``t // m`` bits of its own (``t // m == 0``, i.e. ``m = t + 1``
bands joined on equality, is the special case), then verifies the full distance. Found
pairs are exact: the index only saves comparisons, it never misses one.

``m`` is chosen per call from a cost model of uniform random hashes: fewer, wider bands
need more probes per query but return fewer false candidates; at 100k images x 16
alignments, 3 bands of ~21 bits (radius 3) beat 11 bands of ~6 bits by a wide margin,
because a 6-bit band value is shared by 1/64 of all entries (still quadratic).
"""

from __future__ import annotations

from collections.abc import Iterator
from math import comb

import numpy as np

_BITS = 64
_MAX_BAND_BITS = 22  # one table per band: 2**22 int64 offsets = 32 MB
_BLOCK = 4_000_000  # bounds the memory of one block of probes / candidate pairs
_PROBE_COST = 2.0  # one probed bucket vs one candidate verified (measured, roughly)


def bands(m: int) -> list[tuple[int, int]]:
    """``m`` contiguous (shift, bits) bands covering 64 bits, widths differing by at most 1."""
    widths = [_BITS // m + (1 if b < _BITS % m else 0) for b in range(m)]
    shifts = np.concatenate([[0], np.cumsum(widths)[:-1]]).tolist()
    return [(int(s), w) for s, w in zip(shifts, widths, strict=True)]


def _ball(bits: int, radius: int) -> int:
    return sum(comb(bits, d) for d in range(min(bits, radius) + 1)) if radius >= 0 else 0


def radii(m: int, threshold: int) -> list[int]:
    """Search radius per band: with ``threshold = s * m + a`` (``a < m``), two hashes within
    it differ by at most ``s`` bits in one of the first ``a + 1`` bands, or by at most
    ``s - 1`` in one of the others (sum the bands' distances to see it)."""
    s, a = divmod(threshold, m)
    return [s if b <= a else s - 1 for b in range(m)]


def _cost(m: int, threshold: int, n_queries: int, n_entries: int) -> float:
    """Probes plus expected (uniform) candidates to verify, plus building the tables."""
    total = 3.0 * m * n_entries
    for (_, bits), radius in zip(bands(m), radii(m, threshold), strict=True):
        probes = n_queries * _ball(bits, radius)
        total += _PROBE_COST * probes + probes * n_entries / 2**bits
    return total


def choose_bands(threshold: int, n_queries: int, n_entries: int) -> int:
    """The band count with the lowest modelled cost (at least 3: tables of <= 22 bits)."""
    low = -(-_BITS // _MAX_BAND_BITS)
    options = range(low, max(low, threshold + 1) + 1)
    return min(options, key=lambda m: _cost(m, threshold, n_queries, n_entries))


def _flips(bits: int, radius: int) -> np.ndarray:
    """Every ``bits``-bit mask with at most ``radius`` bits set."""
    values = np.arange(2**bits, dtype=np.int32)
    return values[np.bitwise_count(values) <= radius]


class _Table:
    """Entries sorted by one band's value, with where each value's run starts."""

    def __init__(self, entries: np.ndarray, shift: int, bits: int) -> None:
        self.shift, self.mask = np.uint64(shift), np.uint64(2**bits - 1)
        keys = self.key(entries)
        self.order = np.argsort(keys)  # order within a bucket does not matter
        self.sorted = entries[self.order]  # verified in place: buckets are contiguous
        # int32 (entries < 2**31): half the memory traffic of the random look-ups
        self.count = np.bincount(keys, minlength=2**bits).astype(np.int32)
        self.start = (np.cumsum(self.count, dtype=np.int64) - self.count).astype(np.int32)

    def key(self, hashes: np.ndarray) -> np.ndarray:
        return ((hashes >> self.shift) & self.mask).astype(np.int32)


def _expand(
    query: np.ndarray, probe: np.ndarray, table: _Table
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(query index, position in the table) for each entry of each probed bucket, in blocks."""
    count = table.count[probe]
    hit = count > 0
    query, count, start = query[hit], count[hit], table.start[probe[hit]]
    ends = np.cumsum(count, dtype=np.int64)
    begin = 0
    while begin < len(query):
        base = ends[begin - 1] if begin else 0
        stop = max(begin + 1, int(np.searchsorted(ends, base + _BLOCK, side="right")))
        c = count[begin:stop]
        total = int(c.sum())
        first = np.repeat(np.cumsum(c, dtype=np.int64) - c - start[begin:stop], c)
        yield np.repeat(query[begin:stop], c), np.arange(total) - first
        begin = stop


def within(
    queries: np.ndarray, entries: np.ndarray, threshold: int, *, m: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(q, e)`` of every query/entry pair at most ``threshold`` bits apart, once each.

    ``m``: the number of bands (3 or more; default: :func:`choose_bands`)."""
    queries = np.asarray(queries, dtype=np.uint64)
    entries = np.asarray(entries, dtype=np.uint64)
    empty = np.zeros(0, dtype=np.int64)
    if threshold < 0 or len(queries) == 0 or len(entries) == 0:
        return empty, empty
    m = m or choose_bands(threshold, len(queries), len(entries))
    if not -(-_BITS // _MAX_BAND_BITS) <= m <= _BITS:
        raise ValueError(f"band count {m} is outside 3..64")
    layout, radius = bands(m), radii(m, threshold)
    tables = [_Table(entries, shift, bits) for shift, bits in layout]
    found_q, found_e = [empty], [empty]
    for b, table in enumerate(tables):
        if radius[b] < 0:
            continue
        flips = _flips(layout[b][1], radius[b])
        rows = max(1, _BLOCK // len(flips))
        for lo in range(0, len(queries), rows):
            q = np.arange(lo, min(lo + rows, len(queries)))
            probe = (table.key(queries[q])[:, None] ^ flips[None, :]).ravel()
            for qi, pos in _expand(np.repeat(q, len(flips)), probe, table):
                close = np.bitwise_count(queries[qi] ^ table.sorted[pos]) <= threshold
                qi, ei = qi[close], table.order[pos[close]]
                # A pair within an earlier band's radius was found there already.
                diff = queries[qi] ^ entries[ei]
                keep = np.ones(len(qi), dtype=bool)
                for earlier, r in zip(tables[:b], radius[:b], strict=True):
                    keep &= np.bitwise_count(earlier.key(diff)) > r
                found_q.append(qi[keep])
                found_e.append(ei[keep])
    return np.concatenate(found_q), np.concatenate(found_e)

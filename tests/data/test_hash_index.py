"""The near-duplicate candidate index finds exactly the pairs the all-pairs search finds."""

from __future__ import annotations

import numpy as np
import pytest

from training.data.doctor.duplicates import all_pairs_candidates, candidate_pairs
from training.data.doctor.hash_index import bands, choose_bands, radii, within

ALIGNMENTS = 16


def _flip(rng: np.random.Generator, value: np.uint64, bits: int) -> np.uint64:
    mask = 0
    for b in rng.choice(64, bits, replace=False):
        mask |= 1 << int(b)
    return value ^ np.uint64(mask)


def random_hashes(n: int, seed: int, planted: int) -> np.ndarray:
    """Uniform random hashes, plus ``planted`` near pairs 0..13 bits apart on any alignment."""
    rng = np.random.default_rng(seed)
    phashes = rng.integers(0, 2**64, (n, ALIGNMENTS), dtype=np.uint64)
    for _ in range(planted):
        i, j = rng.integers(0, n, 2)
        # either direction: j's alignment near i's full frame, or j's full frame near i's
        if rng.random() < 0.5:
            phashes[j, rng.integers(0, ALIGNMENTS)] = _flip(rng, phashes[i, 0], rng.integers(14))
        else:
            phashes[j, 0] = _flip(rng, phashes[i, rng.integers(0, ALIGNMENTS)], rng.integers(14))
    return phashes


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("threshold", [0, 3, 10, 12])
def test_index_finds_the_same_candidates_as_all_pairs(seed: int, threshold: int) -> None:
    n = [2, 30, 300, 900, 1, 120][seed]
    phashes = random_hashes(n, seed, planted=n // 3 + 1)
    expected = all_pairs_candidates(phashes, threshold)
    found = candidate_pairs(phashes, threshold)
    assert found.dtype == expected.dtype
    np.testing.assert_array_equal(found, expected)
    if threshold >= 10 and n >= 30:
        assert len(found) > 0, "the planted pairs must be found"


def test_identical_and_flat_hashes_pair_up_completely() -> None:
    phashes = np.zeros((40, ALIGNMENTS), dtype=np.uint64)  # e.g. 40 blank walls
    phashes[20:] = np.uint64(2**64 - 1)
    np.testing.assert_array_equal(candidate_pairs(phashes), all_pairs_candidates(phashes))
    assert len(candidate_pairs(phashes)) == 2 * (20 * 19 // 2)


@pytest.mark.parametrize("m", [3, 4, 5, 7, 11, 16])
def test_every_band_count_finds_every_pair_once(m: int) -> None:
    rng = np.random.default_rng(m)
    queries = rng.integers(0, 2**64, 200, dtype=np.uint64)
    entries = np.concatenate(
        [
            rng.integers(0, 2**64, 300, dtype=np.uint64),
            [_flip(rng, q, int(rng.integers(12))) for q in queries[:150]],
        ]
    ).astype(np.uint64)
    q, e = within(queries, entries, 10, m=m)
    distance = np.bitwise_count(queries[:, None] ^ entries[None, :])
    expected = set(zip(*np.nonzero(distance <= 10), strict=True))
    assert len(q) == len(expected)  # once each
    assert set(zip(q.tolist(), e.tolist(), strict=True)) == expected


def test_band_layout_covers_64_bits_and_radii_are_sound() -> None:
    for m in range(3, 12):
        layout = bands(m)
        assert sum(bits for _, bits in layout) == 64
        assert [s for s, _ in layout] == list(np.cumsum([0] + [b for _, b in layout])[:-1])
        for t in (0, 5, 10, 12):
            r = radii(m, t)
            # pigeonhole: distances over bands summing to t+1 beyond every radius is impossible
            assert sum(x + 1 for x in r) == t + 1
    assert choose_bands(10, 100, 1600) >= 3

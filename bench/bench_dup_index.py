"""Benchmark the near-duplicate candidate search: all pairs (old) vs the band index (new).

Generated hashes: uniform random 64-bit perceptual hashes for 16 alignments per image, plus
one planted near copy (0-8 bits away) per 100 images; threshold 10 bits, as in `check`.
One run each, on whatever the machine is doing: read the ratios, not the last digit.
The all-pairs search at 100k images would take over half an hour, so it is not run there:
its time is extrapolated from 10k (it is exactly quadratic) and labelled so.

Run: .venv/bin/python -m bench.bench_dup_index
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from training.data.doctor.duplicates import (  # noqa: E402
    HAMMING_THRESHOLD,
    all_pairs_candidates,
    candidate_pairs,
)
from training.data.doctor.hash_index import choose_bands  # noqa: E402

SIZES = (1_000, 10_000, 100_000)
OLD_MAX = 10_000  # beyond this the all-pairs time is extrapolated, not measured


def hashes(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    phashes = rng.integers(0, 2**64, (n, 16), dtype=np.uint64)
    for i in range(0, n - 1, 100):
        bits = rng.choice(64, int(rng.integers(0, 9)), replace=False)
        mask = np.uint64(sum(1 << int(b) for b in bits))
        phashes[i + 1, int(rng.integers(0, 16))] = phashes[i, 0] ^ mask
    return phashes


def timed(fn, *args) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, out


def main() -> None:
    print(f"{'images':>8} {'bands':>5} {'old s':>14} {'new s':>8} {'speed-up':>9} {'pairs':>7}")
    last_old = None
    for n in SIZES:
        phashes = hashes(n)
        new_s, new = timed(candidate_pairs, phashes, HAMMING_THRESHOLD)
        if n <= OLD_MAX:
            old_s, old = timed(all_pairs_candidates, phashes, HAMMING_THRESHOLD)
            assert np.array_equal(old, new), "the index must find exactly the same pairs"
            old_text, last_old = f"{old_s:.2f}", (n, old_s)
        else:
            old_s = last_old[1] * (n / last_old[0]) ** 2
            old_text = f"~{old_s:.0f} (extrap.)"
        m = choose_bands(HAMMING_THRESHOLD, n, 16 * n)
        print(f"{n:>8} {m:>5} {old_text:>14} {new_s:>8.2f} {old_s / new_s:>8.0f}x {len(new):>7}")
    print("old: every full frame vs every alignment (quadratic); new: multi-index hashing.")


if __name__ == "__main__":
    main()

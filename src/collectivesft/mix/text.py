"""Text normalisation and character n-gram hashing shared by dedup and decontamination.

Both compare *normalised* text so that a copy with changed punctuation, spacing, case or
full-width letters counts as the same text: NFKC (which maps full-width ASCII such as
"ＡＢＣ１" and the ideographic space to half-width), case folding, then every character that
is not a letter or digit (whitespace, punctuation, symbols, "_") removed.

N-gram hashes are computed with numpy over many texts at once (a rolling polynomial hash
over code points, then a 64-bit mixer), so a million records hash in seconds, and the
values are the same in every process and on every run (Python's `hash` of str is not).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Sequence

import numpy as np

_NOT_WORD = re.compile(r"[\W_]+")
_BASE = np.uint64(0x100000001B3)  # FNV-64 prime; any odd 64-bit constant works as the base


def normalize_text(text: str) -> str:
    """NFKC + casefold, then drop whitespace, punctuation and symbols (letters/digits/CJK stay)."""
    return _NOT_WORD.sub("", unicodedata.normalize("NFKC", text).casefold())


def normalize_many(texts: Sequence[str]) -> list[str]:
    """[normalize_text(t) for t in texts]."""
    return [normalize_text(t) for t in texts]


def text_key(text: str) -> int:
    """A stable 64-bit key of an (already normalised) text, for exact duplicate detection."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: spreads the poorly mixed low bits of a polynomial hash."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def ngram_hashes(texts: Sequence[str], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Hash every character n-gram of every text in one vectorised pass.

    Returns (hashes uint64, counts int64): the n-grams of text i are
    hashes[offsets[i]:offsets[i]+counts[i]] with offsets = cumsum(counts) - counts. A text
    shorter than n (but not empty) gives one "n-gram", the whole text; an empty text none.
    """
    lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
    counts = np.where(lengths >= n, lengths - n + 1, np.minimum(lengths, 1))
    if lengths.sum() == 0:
        return np.zeros(0, dtype=np.uint64), counts
    codes = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    starts = np.cumsum(lengths) - lengths
    total = len(codes)
    with np.errstate(over="ignore"):
        # h[j] = hash of codes[j : j+n] over the concatenation; the windows that cross a
        # text boundary are discarded below. 64-bit overflow wraps, which is what we want.
        width = max(total - n + 1, 0)
        h = np.zeros(width, dtype=np.uint64)
        for k in range(n if width else 0):
            h = h * _BASE + codes[k : k + width]
        long_rows = lengths >= n
        pieces_idx = np.repeat(starts[long_rows], counts[long_rows])
        within = np.arange(len(pieces_idx)) - np.repeat(np.cumsum(counts[long_rows]) - counts[long_rows],
                                                         counts[long_rows])
        long_hashes = h[pieces_idx + within]
        short_rows = np.flatnonzero((lengths < n) & (lengths > 0))
        if len(short_rows) == 0:
            return _mix64(long_hashes), counts
        # Texts shorter than n: one hash of the whole text (rare; computed one by one).
        short_hashes = np.zeros(len(short_rows), dtype=np.uint64)
        for j, row in enumerate(short_rows):
            acc = np.uint64(0)
            for c in codes[starts[row] : starts[row] + lengths[row]]:
                acc = acc * _BASE + c
            short_hashes[j] = acc ^ np.uint64(lengths[row]) << np.uint64(56)
    # Interleave long and short rows back into text order.
    out = np.empty(int(counts.sum()), dtype=np.uint64)
    offsets = np.cumsum(counts) - counts
    out[offsets[short_rows]] = short_hashes
    long_positions = np.repeat(offsets[long_rows], counts[long_rows]) + within
    out[long_positions] = long_hashes
    return _mix64(out), counts

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


_REMOVED = np.uint32(0xFFFFFFFF)
_TABLE: list[np.ndarray] = []


def _char_table() -> np.ndarray:
    """For each BMP code point c: normalize_text(c) as one code point, _REMOVED when empty, or
    0xFFFFFFFE when c must not be mapped alone (see normalize_many). Built once per process (~0.2 s)."""
    if _TABLE:
        return _TABLE[0]
    # Code points a canonical composition can take as its second part (a starter followed by one
    # of these may compose with it), Hangul vowel and trailing jamo included.
    seconds = set(range(0x1161, 0x1176)) | set(range(0x11A8, 0x11C3))
    for c in range(0x110000):
        d = unicodedata.decomposition(chr(c))
        if d and not d.startswith("<") and len(d.split()) == 2:
            seconds.add(int(d.split()[1], 16))
    table = np.full(0x10000, 0xFFFFFFFE, dtype=np.uint32)
    for c in range(0x10000):
        if 0xD800 <= c < 0xE000:
            continue
        ch = chr(c)
        first = ord(unicodedata.normalize("NFKD", ch)[0])
        if first in seconds or unicodedata.combining(chr(first)):
            continue
        out = normalize_text(ch)
        if len(out) <= 1:
            table[c] = ord(out) if out else _REMOVED
    _TABLE.append(table)
    return table


def normalize_many(texts: Sequence[str]) -> list[str]:
    """[normalize_text(t) for t in texts], computed with numpy for most texts.

    Normalisation is a per-character map when no character of the text can combine with the
    one before it: every character's compatibility decomposition starts with a starter that no
    canonical composition takes as its second part (nor reorders), so NFKC of the text is the
    NFKC of each character in turn, and casefold and the removal of non-word characters work
    character by character anyway. A text with any other character (a combining mark, a
    Hangul vowel jamo, one beyond the BMP, one normalising to 2+ characters) takes normalize_text.
    """
    if len(texts) < 64:
        return [normalize_text(t) for t in texts]
    table = _char_table()
    try:
        codes = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32)
    except UnicodeEncodeError:  # a lone surrogate (not from a parsed record)
        return [normalize_text(t) for t in texts]
    bounds = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts)), out=bounds[1:])
    mapped = table[np.minimum(codes, np.uint32(0xFFFF))]
    mapped[codes > 0xFFFF] = 0xFFFFFFFE
    keep = mapped < 0xFFFFFFFE
    # Per text: how many of its code points are kept, and whether any must not be mapped alone.
    kept = np.zeros(len(codes) + 1, dtype=np.int64)
    np.cumsum(keep, out=kept[1:])
    unmapped = np.zeros(len(codes) + 1, dtype=np.int64)
    np.cumsum(mapped == 0xFFFFFFFE, out=unmapped[1:])
    slow = unmapped[bounds[1:]] != unmapped[bounds[:-1]]
    kept_lengths = kept[bounds[1:]] - kept[bounds[:-1]]
    joined = mapped[keep].tobytes().decode("utf-32-le")
    ends = np.cumsum(kept_lengths).tolist()
    out = []
    start = 0
    for i, end in enumerate(ends):
        out.append(joined[start:end])
        start = end
    for i in np.flatnonzero(slow).tolist():
        out[i] = normalize_text(texts[i])
    return out


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """np.unique(values) for a 1-d array, by sorting (numpy 2.4's hash-based unique of int64 took
    10 s for 3M values where a sort takes 0.07 s)."""
    if len(values) == 0:
        return np.sort(values)
    ordered = np.sort(values)
    first = np.empty(len(ordered), dtype=bool)
    first[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    return ordered[first]


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

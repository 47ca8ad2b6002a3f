"""The mix's fast paths give exactly what the plain code they replace gives.

orjson reading and writing (mix/fastjson.py) against jsonlimits.parse_text and io.dumps, the
numpy normalisation (text.normalize_many) against normalize_text, array clustering
(minhash.cluster_minima) against a union-find, and byte-range reading (mix/chunks.py) against
text-mode iteration of the file.
"""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from collectivesft.io import dumps
from collectivesft.jsonlimits import RowError, parse_text
from collectivesft.mix.chunks import byte_chunks, lines_before, read_lines
from collectivesft.mix.fastjson import dumps_bytes, loads_line
from collectivesft.mix.minhash import cluster_minima
from collectivesft.mix.text import normalize_many, normalize_text

LINES = [
    b'{"a":1,"b":[1,2.5,-0.0,1e-7,1e16],"c":"\\u00e9\\ud83d\\ude00"}',
    b'{"big":123456789012345678901234567890}',  # orjson would read a float
    b'{"neg":-9223372036854775809,"pos":18446744073709551616}',
    b'{"id":"x/1234567890123456789012"}',  # 19+ digits inside a string: slow path, same value
    b'{"a":1,"b":2,"a":3}',
    b'  {"a":{"b":{"c":[[[]]]}}}\r\n',
    b'{"a":NaN}',
    b'{"a":1e999}',
    b'{"a":"\\ud800"}',
    b'{"a":"\x01"}',
    b'{"a":1,}',
    b'\xef\xbb\xbf{"a":1}',
    b"[" * 70 + b"]" * 70,  # deeper than max_depth
    b'{"a":"\xff"}',
]


def _plain(raw: bytes):
    try:
        return "ok", parse_text(raw.decode("utf-8"))
    except RowError as exc:
        return "row-error", exc.reason
    except UnicodeDecodeError:
        return "not-utf8", None


def _fast(raw: bytes):
    try:
        return "ok", loads_line(raw)
    except RowError as exc:
        return "row-error", exc.reason
    except UnicodeDecodeError:
        return "not-utf8", None


@pytest.mark.parametrize("raw", LINES)
def test_loads_line_reads_what_parse_text_reads(raw):
    fast, plain = _fast(raw), _plain(raw)
    assert fast == plain
    assert repr(fast) == repr(plain)  # 1 and 1.0, -0.0 and 0.0 told apart


VALUES = [
    {"f": [0.1, 1e-7, 1e16, 1e22, 5e-324, -0.0, 3.0, 1 / 3]},
    {"big": 2**64, "neg": -(2**63) - 1},
    {"i": [2**63 - 1, -(2**63), 0, True, False, None]},
    {"s": "".join(chr(c) for c in range(0, 0x800)) + "\u2028\u2029\ufeff😀𠀀\x7f"},
    {"z": 1, "a": {"nested": [{"k": "v"}]}, "m": []},
    ["list", {"x": "y"}],
]


@pytest.mark.parametrize("value", VALUES)
def test_dumps_bytes_writes_what_io_dumps_writes(value):
    assert dumps_bytes(value) == dumps(value).encode("utf-8")


def test_normalize_many_matches_normalize_text_on_every_bmp_neighbourhood():
    rng = random.Random(3)
    chars = [chr(c) for c in range(0x10000) if not 0xD800 <= c < 0xE000] + ["😀", "\U0001D15E", "\U000110BA"]
    marks = ["\u0301", "\u0308", "\u3099", "\u1161", "\u11a8", "\u0bbe", "\uff21", "ß", "ﬁ", "Σ"]
    for _ in range(20):
        texts = ["".join(rng.choice(chars if rng.random() < 0.8 else marks) for _ in range(rng.randint(0, 40)))
                 for _ in range(300)]
        assert normalize_many(texts) == [normalize_text(t) for t in texts]


def _union_find(n: int, pairs: np.ndarray) -> np.ndarray:
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for u, v in pairs.tolist():
        ru, rv = find(u), find(v)
        if ru != rv:
            parent[max(ru, rv)] = min(ru, rv)
    return np.array([find(i) for i in range(n)])


def test_cluster_minima_matches_a_union_find():
    rng = np.random.default_rng(5)
    for _ in range(200):
        n = int(rng.integers(1, 200))
        pairs = rng.integers(0, n, (int(rng.integers(0, 300)), 2))
        assert (cluster_minima(n, pairs) == _union_find(n, pairs)).all()
    chain = rng.permutation(5000)
    assert (cluster_minima(5000, np.stack([chain[:-1], chain[1:]], axis=1)) == 0).all()


def test_byte_ranges_read_the_lines_text_mode_reads(tmp_path):
    path = tmp_path / "records.jsonl"
    rows = [json.dumps({"i": i, "t": "字" * (i % 7)}, ensure_ascii=False) for i in range(200)]
    ends = ["\n", "\r\n", "\r", "\n\n", "\n \u3000\n", "\n\x1c\n", "\n\t\n"]
    path.write_bytes("".join(row + ends[i % len(ends)] for i, row in enumerate(rows)).encode("utf-8"))
    with open(path, encoding="utf-8") as fh:
        expected = [(n, line) for n, line in enumerate(fh, 1) if line.strip()]
    for size in (1, 50, 333, 10**6):
        got = []
        for chunk in byte_chunks(0, path, size):
            numbers, lines = read_lines(chunk)
            before = lines_before(chunk)
            got += [(before + n, line.decode("utf-8")) for n, line in zip(numbers, lines)]
        assert [n for n, _ in got] == [n for n, _ in expected]
        assert [json.loads(line) for _, line in got] == [json.loads(line) for _, line in expected]

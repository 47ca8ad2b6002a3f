"""Text-overlap metrics for Chinese long answers (CMB-Clin): ROUGE-L and BLEU on characters.

Chinese has no spaces, so both metrics work on characters (whitespace and punctuation
dropped): word segmentation would make scores depend on the segmenter's dictionary.
BLEU is BLEU-4 with a brevity penalty; sentence BLEU uses add-one smoothing for n > 1
(Lin & Och 2004) so one missing 4-gram does not zero a long answer.
"""

from __future__ import annotations

import math
import unicodedata
from collections import Counter


def char_tokens(text: str) -> list[str]:
    """Characters of `text` without whitespace or punctuation (NFKC-normalised, ASCII lower-cased)."""
    text = unicodedata.normalize("NFKC", text or "").lower()
    return [c for c in text if not c.isspace() and not unicodedata.category(c).startswith("P")]


def _lcs(a: list[str], b: list[str]) -> int:
    if not a or not b:
        return 0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, 1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1]


def rouge_l(hypothesis: str, reference: str) -> float:
    """ROUGE-L F1 on characters, in [0, 1]."""
    hyp, ref = char_tokens(hypothesis), char_tokens(reference)
    lcs = _lcs(hyp, ref)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(hyp), lcs / len(ref)
    return 2 * precision * recall / (precision + recall)


def _ngrams(tokens: list[str], n: int) -> Counter:
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def _bleu_stats(hyp: list[str], ref: list[str], max_n: int = 4) -> list[int]:
    """[hyp_len, ref_len, match_1, total_1, ..., match_n, total_n]."""
    stats = [len(hyp), len(ref)]
    for n in range(1, max_n + 1):
        h, r = _ngrams(hyp, n), _ngrams(ref, n)
        stats += [sum(min(c, r[g]) for g, c in h.items()), max(len(hyp) - n + 1, 0)]
    return stats


def _bleu_from(stats: list[int], smooth: bool, max_n: int = 4) -> float:
    hyp_len, ref_len = stats[0], stats[1]
    if hyp_len == 0:
        return 0.0
    log_p = 0.0
    for n in range(max_n):
        match, total = stats[2 + 2 * n], stats[3 + 2 * n]
        if smooth and n > 0:
            match, total = match + 1, total + 1
        if match == 0 or total == 0:
            return 0.0
        log_p += math.log(match / total) / max_n
    brevity = 1.0 if hyp_len > ref_len else math.exp(1 - ref_len / hyp_len)
    return brevity * math.exp(log_p)


def sentence_bleu(hypothesis: str, reference: str) -> float:
    """Smoothed character BLEU-4 of one answer, in [0, 1]."""
    return _bleu_from(_bleu_stats(char_tokens(hypothesis), char_tokens(reference)), smooth=True)


def corpus_bleu(hypotheses: list[str], references: list[str]) -> float:
    """Character BLEU-4 over a corpus (n-gram counts summed first, no smoothing), in [0, 1]."""
    total = [0] * 10
    for h, r in zip(hypotheses, references):
        total = [a + b for a, b in zip(total, _bleu_stats(char_tokens(h), char_tokens(r)))]
    return _bleu_from(total, smooth=False)

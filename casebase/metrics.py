"""Small, exact metrics shared by benchmarks and evaluation (tested against hand-computed values)."""

from __future__ import annotations

import math
import re
import string
from collections import Counter

_TOKEN = re.compile(r"\w+", re.UNICODE)


def tokens(text: str) -> list[str]:
    return _TOKEN.findall((text or "").lower())


def lcs_length(a: list[str], b: list[str]) -> int:
    """Length of the longest common subsequence (dynamic programming, O(len(a) * len(b)))."""
    if not a or not b:
        return 0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def rouge_l(candidate: str, reference: str) -> float:
    """ROUGE-L F1 over lower-cased word tokens (beta = 1)."""
    c, r = tokens(candidate), tokens(reference)
    lcs = lcs_length(c, r)
    if lcs == 0:
        return 0.0
    p, rec = lcs / len(c), lcs / len(r)
    return 2 * p * rec / (p + rec)


_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)


def squad_tokens(text: str) -> list[str]:
    """Tokens normalised as the SQuAD evaluation does: lower case, no punctuation, no articles."""
    return _ARTICLES.sub(" ", (text or "").lower().translate(_PUNCT)).split()


def token_prf(candidate: str, reference: str) -> tuple[float, float, float]:
    """(precision, recall, F1) of the bag of SQuAD-normalised tokens; (0, 0, 0) when either is empty."""
    c, r = squad_tokens(candidate), squad_tokens(reference)
    common = sum((Counter(c) & Counter(r)).values())
    if common == 0:
        return 0.0, 0.0, 0.0
    p, rec = common / len(c), common / len(r)
    return p, rec, 2 * p * rec / (p + rec)


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion."""
    if n == 0:
        return (float("nan"), float("nan"))
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (centre - half, centre + half)


def chrf(candidate: str, reference: str) -> float:
    """chrF (character 6-grams, beta 2) of one answer, 0-100, as sacrebleu computes it."""
    from sacrebleu.metrics import CHRF

    return float(CHRF().sentence_score(candidate or "", [reference or ""]).score)


def bootstrap_ci(values, n_resamples: int = 2000, seed: int = 0, level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): the mean and its percentile bootstrap interval (resampling items with replacement)."""
    import numpy as np

    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(n_resamples, x.size))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    return float(x.mean()), float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail))


def paired_bootstrap(a, b, n_resamples: int = 2000, seed: int = 0, level: float = 0.95) -> dict:
    """Mean of a - b over paired items, its bootstrap interval, and the share of resamples where a > b."""
    import numpy as np

    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if d.size == 0:
        return {"diff": float("nan"), "low": float("nan"), "high": float("nan"), "p_a_better": float("nan")}
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, d.size, size=(n_resamples, d.size))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    return {"diff": float(d.mean()), "low": float(np.percentile(means, tail)),
            "high": float(np.percentile(means, 100 - tail)), "p_a_better": float((means > 0).mean())}


def macro_f1(gold: list, predicted: list) -> float:
    """Unweighted mean of per-class F1 over the classes in ``gold`` (a missing prediction is simply wrong)."""
    classes = sorted({g for g in gold}, key=str)
    if not classes:
        return float("nan")
    scores = []
    for c in classes:
        tp = sum(g == c and p == c for g, p in zip(gold, predicted))
        fp = sum(g != c and p == c for g, p in zip(gold, predicted))
        fn = sum(g == c and p != c for g, p in zip(gold, predicted))
        scores.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return sum(scores) / len(scores)


def confusion(gold: list, predicted: list) -> dict[str, dict[str, int]]:
    """{gold label: {predicted label: count}}; a missing prediction counts as "(none)"."""
    table: dict[str, dict[str, int]] = {}
    for g, p in zip(gold, predicted):
        row = table.setdefault(str(g), {})
        key = "(none)" if p is None else str(p)
        row[key] = row.get(key, 0) + 1
    return table

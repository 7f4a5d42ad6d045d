"""Lexical retrieval: BM25 (bm25s) over a tokenizer that keeps ERP identifiers whole.

    from casebase.retrieve.bm25 import tokenize, BM25Index
    tokenize("ORA-00942 in ME21N after 2023 R2")   # ['ora-00942', 'me21n', '2023 r2', '2023', 'r2']
    bm25 = BM25Index.build(["case text", ...]); bm25.scores("ORA-00942")   # one score per case

Why a custom tokenizer: bm25s' default splits on non-word characters and would turn
ORA-00942 into "ora" + "00942", so every ORA- error matched every other. Here an error code,
transaction code, version or path is one lower-cased token and matches only itself; words
joined by a hyphen or slash without digits ("follow-up", "and/or") also yield their parts.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

TOKENIZER_VERSION = 1

# Order matters: the first alternative that matches at a position wins.
_TOKEN = re.compile(r"""
    (?P<winpath>\b[A-Za-z]:\\[^\s"'<>|,;]+)                        # C:\Program Files (x86)\... up to white space
  | (?P<path>(?<![\w./])(?:~|\.{1,2})?(?:/[\w.~-]+){2,}/?)        # /usr/sap/trans/log, ./conf/app.ini
  | (?P<release>\b\d{4}[ \t]*(?:R|SP|FP|SR|EHP)[ \t]?\d{1,2}\b)    # 2023 R2, 2020 SP1: one release name
  | (?P<word>\w+(?:[-./]\w+)*)                                    # SQL0911N, ORA-00942, 15.7.0.80, sap.ui.core
""", re.VERBOSE | re.IGNORECASE)
_WORD = re.compile(r"\w+")
_SEGMENT = re.compile(r"\w+(?:[-.]\w+)*")
_RELEASE = re.compile(r"(\d{4})[ \t]*([a-z]+)[ \t]?(\d{1,2})")
_HAS_DIGIT = re.compile(r"\d")

# Simple English stop words (plain words only: a code is never dropped).
STOPWORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being below between both
but by can could did do does doing down during each few for from further had has have having he her here hers
him his how i if in into is it its itself just me more most my no nor not now of off on once only or other our
ours out over own same she should so some such than that the their theirs them then there these they this those
through to too under until up very was we were what when where which while who whom why will with would you your
yours hi hello thanks thank regards please dear
""".split())


def tokenize(text: str) -> list[str]:
    """Lower-cased tokens of a text: identifiers whole, plain words without stop words."""
    tokens: list[str] = []
    for m in _TOKEN.finditer(text or ""):
        kind, raw = m.lastgroup, m.group(0)
        low = raw.lower()
        if kind in ("winpath", "path"):
            tokens.append(low.rstrip("\\/.-"))
            tokens.extend(w for w in _SEGMENT.findall(low) if w not in STOPWORDS)
        elif kind == "release":
            year, label, num = _RELEASE.fullmatch(low).groups()
            tokens += [f"{year} {label}{num}", year, f"{label}{num}"]
        elif _HAS_DIGIT.search(low) or "_" in low:
            tokens.append(low)  # a code: exact, never split, never a stop word
        elif low in STOPWORDS:
            continue
        else:
            tokens.append(low)
            if len(parts := _WORD.findall(low)) > 1:  # follow-up -> follow-up, follow, up
                tokens.extend(p for p in parts if len(p) > 1 and p not in STOPWORDS)
    return tokens


class BM25Index:
    """A bm25s retriever over one tokenized text per case; saved in bm25s' own format (npy + json)."""

    def __init__(self, retriever):
        self.retriever = retriever
        self.avgdl: float | None = None  # mean tokens a case (known after build; the index manifest records it)

    @classmethod
    def build(cls, texts: list[str], k1: float = 1.5, b: float = 0.75) -> "BM25Index":
        import bm25s

        corpus = [tokenize(t) for t in texts]
        if not any(corpus):  # bm25s cannot build a vocabulary from nothing
            corpus[0:1] = [["<empty>"]] if corpus else []
        from bm25s.tokenization import Tokenized

        # the vocabulary in sorted order: bm25s numbers it in set order, which follows Python's string hash seed,
        # so the same cases gave other files in each process (`casebase rerun --check` found it)
        vocab = {token: i for i, token in enumerate(sorted({t for doc in corpus for t in doc}))}
        retriever = bm25s.BM25(k1=k1, b=b)
        retriever.index(Tokenized(ids=[[vocab[t] for t in doc] for doc in corpus], vocab=vocab), show_progress=False)
        index = cls(retriever)
        index.avgdl = sum(map(len, corpus)) / max(len(corpus), 1)  # bm25s does not keep it; a segment needs it
        return index

    @property
    def count(self) -> int:
        return int(self.retriever.scores["num_docs"])

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every case for the query (zeros when no query token is in the vocabulary)."""
        # bm25s' get_scores fails on an empty token list, and retrieve() would tokenize again: use ids.
        ids = self.retriever.get_tokens_ids(tokenize(query))
        if not ids:
            return np.zeros(self.count, dtype=np.float32)
        return np.asarray(self.retriever.get_scores_from_ids(ids), dtype=np.float32)

    def save(self, directory: Path) -> None:
        self.retriever.save(str(directory), show_progress=False)

    @classmethod
    def load(cls, directory: Path) -> "BM25Index":
        import bm25s

        return cls(bm25s.BM25.load(str(directory), show_progress=False))

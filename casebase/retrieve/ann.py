"""Approximate nearest neighbours (HNSW via usearch) for large case bases; optional.

usearch is imported only here and only when an index is above ``ann_threshold`` cases; without
it, search stays exact and the index manifest says why. Vectors are unit length, so the inner
product metric is the cosine, and usearch's distance is 1 - cosine.

How much search effort a graph needs depends on the data: real sentence embeddings reach a
recall@10 of 0.999 at expansion_search 256, random vectors need 2048 for 0.96 at 100k (see
docs/benchmarks.md). So ``calibrate`` measures it on the index's own vectors after each build:
the smallest ``expansion_search`` whose recall@10 against exact search reaches a target, and
the latency of both, so the index can fall back to exact search where the graph does not pay.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np


# usearch's defaults (connectivity 16, expansion_search 64) gave recall@10 of 0.70 on 20k
# 384-d vectors with near-duplicate queries; these settings gave 0.96 (build ~10% slower).
# expansion_search is only the starting value: calibrate() sets it per index.
HNSW_OPTIONS = {"connectivity": 32, "expansion_add": 128, "expansion_search": 256}
EF_STEPS = (64, 128, 256, 512, 1024, 2048, 4096)


def exact_neighbours(embeddings: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """For each of ``rows``, the k nearest other rows of ``embeddings`` by exact inner product (any order)."""
    out = np.empty((len(rows), k), dtype=np.int64)
    for start in range(0, len(rows), 16):  # 16 x n similarities at a time: 64 MB at 1M cases
        chunk = rows[start:start + 16]
        sims = embeddings[chunk] @ embeddings.T
        sims[np.arange(len(chunk)), chunk] = -np.inf
        out[start:start + len(chunk)] = np.argpartition(-sims, k, axis=1)[:, :k]
    return out


class HNSW:
    FILE = "hnsw.usearch"

    def __init__(self, index):
        self.index = index

    @staticmethod
    def available() -> bool:
        try:
            import usearch.index  # noqa: F401
        except ImportError:
            return False
        return True

    @classmethod
    def build(cls, embeddings: np.ndarray) -> "HNSW":
        from usearch.index import Index

        index = Index(ndim=embeddings.shape[1], metric="ip", dtype="f32", **HNSW_OPTIONS)
        ann = cls(index)
        ann.add(embeddings, start=0)
        return ann

    @property
    def expansion_search(self) -> int:
        return int(self.index.expansion_search)

    @expansion_search.setter
    def expansion_search(self, value: int) -> None:
        self.index.expansion_search = int(value)

    def add(self, embeddings: np.ndarray, start: int) -> None:
        """Add rows with keys start, start+1, ... (the keys are row numbers of embeddings.npy)."""
        if len(embeddings):
            keys = np.arange(start, start + len(embeddings), dtype=np.uint64)
            self.index.add(keys, np.ascontiguousarray(embeddings, dtype=np.float32))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows, cosines), each (n_queries, k), best first; missing matches are row -1, cosine -inf."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        rows = np.full((len(queries), k), -1, dtype=np.int64)
        sims = np.full((len(queries), k), -np.inf, dtype=np.float32)
        if k <= 0 or len(self.index) == 0:
            return rows, sims
        matches = self.index.search(queries, k)
        keys = np.asarray(matches.keys).reshape(len(queries), -1)
        dist = np.asarray(matches.distances, dtype=np.float32).reshape(len(queries), -1)
        counts = getattr(matches, "counts", None)  # a single query may come back as Matches, without counts
        counts = np.asarray(counts).reshape(-1) if counts is not None else np.array([keys.shape[1]] * len(queries))
        for i, c in enumerate(counts):
            c = int(min(c, k))
            rows[i, :c] = keys[i, :c].astype(np.int64)
            sims[i, :c] = 1.0 - dist[i, :c]
        return rows, sims

    def calibrate(self, embeddings: np.ndarray, target: float, k: int = 10, queries: int = 200,
                  seed: int = 0) -> dict:
        """Set expansion_search to the smallest of EF_STEPS whose recall@k reaches ``target``, or the largest.

        Queries are ``queries`` stored rows chosen at random; the truth is each one's k nearest *other*
        rows by exact search (so a query finding itself earns nothing). Also times one query at a time,
        HNSW at each step against exact numpy (E @ q, top k), on the same queries. Returns the
        measurements; ``reached`` says whether the target was met."""
        n = len(embeddings)
        k = min(k, n - 1)
        if k < 1:
            return {"target_recall": target, "reached": True, "expansion_search": self.expansion_search, "sweep": []}
        rows = np.random.default_rng(seed).choice(n, size=min(queries, n), replace=False)
        truth = exact_neighbours(embeddings, rows, k)
        qs = np.ascontiguousarray(embeddings[rows], dtype=np.float32)

        def exact(q):
            return np.argpartition(-(embeddings @ q), k)[:k]

        exact_ms, _ = _timed(exact, qs)
        sweep = []
        for ef in EF_STEPS:
            self.expansion_search = ef
            ms, found = _timed(lambda q: self.search(q, k + 1)[0][0], qs)
            recall = float(np.mean([len(set(f.tolist()) & set(t.tolist()) - {int(r)}) / k
                                    for f, t, r in zip(found, truth, rows)]))
            sweep.append({"expansion_search": ef, "recall": round(recall, 4), "p50_ms": round(ms, 3)})
            if recall >= target:
                break
        best = sweep[-1]
        self.expansion_search = best["expansion_search"]
        return {"target_recall": target, "reached": best["recall"] >= target, "k": k, "queries": len(rows),
                "expansion_search": best["expansion_search"], "recall": best["recall"], "ann_p50_ms": best["p50_ms"],
                "exact_p50_ms": round(exact_ms, 3), "sweep": sweep}

    def save(self, path: Path) -> None:
        self.index.save(str(path))

    @classmethod
    def load(cls, path: Path, dimension: int, expansion_search: int | None = None) -> "HNSW":
        from usearch.index import Index

        index = Index(ndim=dimension, metric="ip", dtype="f32", **HNSW_OPTIONS)
        index.load(str(path))
        ann = cls(index)
        if expansion_search:
            ann.expansion_search = expansion_search
        return ann


def graph_pays(calibration: dict) -> bool:
    """What ``--ann auto`` keeps a graph for: it reached the recall target and beat exact search."""
    return bool(calibration["reached"]) and calibration["ann_p50_ms"] < calibration["exact_p50_ms"]


def _timed(fn, queries) -> tuple[float, list]:
    """(median milliseconds of fn(q), the results), one query at a time."""
    ms, results = [], []
    for q in queries:
        t = time.perf_counter()
        results.append(fn(q))
        ms.append((time.perf_counter() - t) * 1000)
    return float(np.median(ms)), results

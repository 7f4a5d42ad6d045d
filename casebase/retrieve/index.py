"""Search a built index: dense, BM25 or both fused; self-exclusion, abstention and a triage vote.

    from casebase.retrieve import load_index
    index = load_index(ws)                                # reads ws/index/, loads the embedder once
    hit = index.search("ORA-00942 when posting in ME21N", k=5, mode="hybrid")
    hit.results[0]["case_id"], hit.abstained, hit.triage["category"]
    hits = index.search_many(texts, k=5, exclude=ids)     # one batched encode for all queries

Dense search is exact (matrix product + argpartition) unless the index was built with an
HNSW graph (usearch, above ``ann_threshold`` cases). Hybrid fuses the dense and BM25 rankings
with reciprocal rank fusion: score = sum_i w_i / (rrf_k + rank_i), ranks from 1.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from casebase.errors import CasebaseError
from casebase.retrieve.ann import HNSW
from casebase.retrieve.bm25 import BM25Index
from casebase.retrieve.embed import Embedder, encode_batched, get_embedder

MODES = ("hybrid", "dense", "bm25")
CASE_FIELDS = ("problem", "solution", "category", "urgency", "opened_at")
TRIAGE_FIELDS = ("category", "urgency")
Exclude = str | Iterable[str] | None


def rrf(rankings: Sequence[Sequence[Any]], weights: Sequence[float] | None = None, k: int = 60) -> list[tuple[Any, float]]:
    """Reciprocal rank fusion: (item, sum_i weight_i / (k + rank_i)) best first; ties keep first-seen order."""
    weights = list(weights) if weights is not None else [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError(f"{len(weights)} weights for {len(rankings)} rankings")
    scores: dict[Any, float] = {}
    for ranking, w in zip(rankings, weights):
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + w / (k + rank)
    return sorted(scores.items(), key=lambda kv: -kv[1])


def vote(labels: Sequence[Any], weights: Sequence[float]) -> dict[str, Any]:
    """Similarity-weighted vote: the label with most weight (max(w, 0)) and its share of all weight.

    Missing labels do not vote; on a tie the label met first (the closest neighbour's) wins."""
    totals: dict[Any, float] = {}
    for label, w in zip(labels, weights):
        if label is None or (isinstance(label, float) and np.isnan(label)) or str(label).strip() == "":
            continue
        totals[label] = totals.get(label, 0.0) + max(float(w), 0.0)
    total = sum(totals.values())
    if total <= 0:
        return {"value": None, "confidence": 0.0, "votes": {}}
    value = max(totals, key=totals.__getitem__)
    return {"value": value, "confidence": round(totals[value] / total, 4),
            "votes": {str(k): round(v, 4) for k, v in sorted(totals.items(), key=lambda kv: -kv[1])}}


@dataclass
class SearchResult:
    """Top cases for one query, whether to abstain (best cosine below the threshold) and the triage vote."""

    query: str
    results: list[dict[str, Any]]
    abstained: bool
    best_similarity: float
    threshold: float
    triage: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Index:
    """A loaded index: embeddings, case metadata, BM25, optional HNSW; see ``search``."""

    def __init__(self, root: Path, manifest: dict, embeddings: np.ndarray, metadata: pd.DataFrame,
                 bm25: BM25Index, ann: HNSW | None = None, embedder: Embedder | None = None):
        self.root, self.manifest, self.embeddings, self.metadata = root, manifest, embeddings, metadata
        self.bm25, self.ann, self._embedder = bm25, ann, embedder
        self.ids = metadata["case_id"].astype(str).tolist()
        self._row = {cid: i for i, cid in enumerate(self.ids)}
        self.threshold = float(manifest["abstain"]["threshold"])
        self._records = metadata[["case_id", *CASE_FIELDS]].astype(object).where(metadata.notna(), None).to_dict("records")
        self._labels = {f: metadata[f].astype(object).where(metadata[f].notna(), None).to_numpy() for f in TRIAGE_FIELDS}

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = get_embedder(self.manifest["model"])
        return self._embedder

    def search(self, text: str, k: int = 5, mode: str = "hybrid", exclude: Exclude = None, **options) -> SearchResult:
        """Top ``k`` cases for one text; ``exclude``: case id(s) removed with their near-duplicates."""
        return self.search_many([text], k=k, mode=mode, exclude=[exclude], **options)[0]

    def search_many(self, texts: Sequence[str], k: int = 5, mode: str = "hybrid",
                    exclude: str | Sequence[Exclude] | None = None, weights: tuple[float, float] = (1.0, 1.0),
                    rrf_k: int = 60, near_duplicate: float = 0.95, triage_k: int = 10,
                    depth: int = 100, vectors: np.ndarray | None = None) -> list[SearchResult]:
        """``search`` for many texts with one batched encode; ``exclude`` is one id for all or one entry per text.

        ``weights`` = (dense, bm25) for hybrid; ``depth`` = candidates taken from each ranking before fusion;
        ``vectors``: the texts' embeddings when already known (indexed cases searched for their neighbours)."""
        if mode not in MODES:
            raise CasebaseError(f"search mode {mode!r}: use one of {', '.join(MODES)}")
        if k < 1:
            raise CasebaseError(f"k must be at least 1, got {k}")
        texts = list(texts)
        if exclude is None or isinstance(exclude, str):
            exclude = [exclude] * len(texts)
        if len(exclude) != len(texts):
            raise ValueError(f"{len(exclude)} exclude entries for {len(texts)} texts")
        if vectors is not None and len(vectors) != len(texts):
            raise ValueError(f"{len(vectors)} vectors for {len(texts)} texts")
        queries = (encode_batched(self.embedder, texts, f"embedding {len(texts)} queries") if vectors is None
                   else np.asarray(vectors, dtype=np.float32))
        n = len(self)
        k, depth = min(k, n), min(max(depth, k, triage_k), n)
        out = []
        # Exact search scores a block of queries with one matrix product (far faster than one mat-vec each).
        block = max(1, min(256, (1 << 25) // max(n, 1)))
        sims_block = None
        for i, (text, q, ex) in enumerate(zip(texts, queries, exclude)):
            if self.ann is None and i % block == 0:
                sims_block = queries[i: i + block] @ self.embeddings.T
            banned = self.excluded_rows(ex, near_duplicate)
            dense_rows, dense_sims = self._dense_top(q, depth, banned, None if self.ann else sims_block[i % block])
            bm25_scores = None
            if mode != "dense":
                bm25_scores = self.bm25.scores(text)
                if banned.size:
                    bm25_scores[banned] = 0.0
            if mode == "dense":
                ranked = list(zip(dense_rows.tolist(), dense_sims.tolist()))[:k]
            elif mode == "bm25":
                ranked = [(int(r), float(bm25_scores[r])) for r in _top(bm25_scores, k) if bm25_scores[r] > 0]
            else:
                lexical = [int(r) for r in _top(bm25_scores, depth) if bm25_scores[r] > 0]
                ranked = rrf([dense_rows.tolist(), lexical], weights, rrf_k)[:k]
            results = [self._result(rank, row, score, q, bm25_scores) for rank, (row, score) in enumerate(ranked, 1)]
            best = float(dense_sims[0]) if dense_sims.size else -1.0
            near, sims = dense_rows[:triage_k], dense_sims[:triage_k].tolist()
            triage = {f: vote(self._labels[f][near].tolist(), sims) for f in TRIAGE_FIELDS}
            out.append(SearchResult(text, results, best < self.threshold, round(best, 4), self.threshold, triage))
        return out

    def stored_vectors(self, case_ids: Sequence[str], texts: Sequence[str]) -> np.ndarray | None:
        """The indexed embeddings of these cases when each is indexed with exactly this text, else None."""
        rows = [self._row.get(str(c)) for c in case_ids]
        if any(r is None for r in rows) or "text" not in self.metadata:
            return None
        indexed = self.metadata["text"].to_numpy()
        if any(indexed[r] != t for r, t in zip(rows, texts)):
            return None
        return self.embeddings[rows]

    def excluded_rows(self, exclude: Exclude, near_duplicate: float = 0.95) -> np.ndarray:
        """Rows of the excluded case ids and of every case whose cosine to one of them is >= near_duplicate."""
        ids = [exclude] if isinstance(exclude, str) else list(exclude or ())
        rows = [self._row[i] for i in map(str, ids) if i in self._row]
        if not rows:
            return np.zeros(0, dtype=np.int64)
        vecs = self.embeddings[rows]
        if self.ann is not None:
            cand, sims = self.ann.search(vecs, min(len(self), 64))
            found = cand[(sims >= near_duplicate) & (cand >= 0)]
        else:
            found = np.nonzero((vecs @ self.embeddings.T >= near_duplicate).any(axis=0))[0]
        return np.unique(np.concatenate([np.asarray(rows, dtype=np.int64), found.astype(np.int64)]))

    def _dense_top(self, q: np.ndarray, depth: int, banned: np.ndarray,
                   sims: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(rows, cosines) of the ``depth`` nearest cases, best first, ties by row; ``sims``: precomputed E @ q."""
        if self.ann is not None:
            rows, cos = self.ann.search(q[None, :], min(len(self), depth + banned.size))
            keep = (rows[0] >= 0) & ~np.isin(rows[0], banned)
            rows, cos = rows[0][keep][:depth], cos[0][keep][:depth]
            order = np.lexsort((rows, -cos))
            return rows[order], cos[order]
        sims = (self.embeddings @ q) if sims is None else sims.copy()
        if banned.size:
            sims[banned] = -np.inf
        rows = _top(sims, depth)
        rows = rows[np.isfinite(sims[rows])]
        return rows, sims[rows]

    def _result(self, rank: int, row: int, score: float, q: np.ndarray, bm25_scores: np.ndarray | None) -> dict:
        rec = self._records[row]
        return {"rank": rank, "case_id": rec["case_id"], "score": round(float(score), 6),
                "dense_score": round(float(self.embeddings[row] @ q), 4),
                "bm25_score": None if bm25_scores is None else round(float(bm25_scores[row]), 4),
                **{f: rec[f] for f in CASE_FIELDS}}


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest scores, best first (argpartition, then a sort of only k)."""
    k = min(k, scores.size)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    part = np.argpartition(-scores, k - 1)[:k] if k < scores.size else np.arange(scores.size)
    return part[np.lexsort((part, -scores[part]))]


def index_dir(ws) -> Path:
    return ws.root / "index"


def verify_index(ws) -> dict:
    """The index's own manifest, once the files of ``index/`` match it and ``index.json`` vouches for this build;
    otherwise a CasebaseError that says to re-run `casebase index`."""
    from casebase.workspace import recover_dir, verify_outputs

    root = index_dir(ws)
    recover_dir(root)
    command = f"casebase index --workspace {ws.root}"
    if not (root / "manifest.json").exists():
        raise CasebaseError(f"no index in {root}: run `{command}` first.")
    manifest = verify_outputs(root / "manifest.json", command)
    stage = verify_outputs(Path(ws.root) / "index.json", command, [root / "manifest.json"])
    if stage and manifest.get("build_id") and stage.get("index_build") not in (None, manifest["build_id"]):
        raise CasebaseError(f"{root} does not match {Path(ws.root) / 'index.json'} (interrupted or edited): "
                            f"re-run `{command}`")
    return manifest


def load_index(ws, embedder: Embedder | None = None) -> Index:
    """The index of a workspace (``casebase index`` builds it), checked against its manifests (``verify_index``);
    the embedder named in its manifest is loaded lazily."""
    from casebase.progress import log

    root = index_dir(ws)
    manifest = verify_index(ws)
    embeddings = np.load(root / "embeddings.npy")
    metadata = pd.read_parquet(root / "metadata.parquet")
    if embedder is not None and embedder.dimension != manifest["dimension"]:
        raise CasebaseError(f"embedder {embedder.name} has dimension {embedder.dimension}, the index "
                            f"{manifest['dimension']} ({manifest['model']}): rebuild with `casebase index --model`.")
    ann = None
    if manifest.get("ann", {}).get("kind") == "hnsw":
        if HNSW.available():
            ann = HNSW.load(root / HNSW.FILE, manifest["dimension"], manifest["ann"].get("expansion_search"))
        else:
            log(f"note: {root} has an HNSW graph but usearch is not installed (pip install usearch): exact search")
    return Index(root, manifest, embeddings, metadata, BM25Index.load(root / "bm25"), ann, embedder)

"""Search a built index: dense, BM25 or both fused; self-exclusion, abstention and a triage vote.

    from casebase.retrieve import load_index
    index = load_index(ws)                                # reads ws/index/, loads the embedder once
    hit = index.search("ORA-00942 when posting in ME21N", k=5, mode="hybrid")
    hit.results[0]["case_id"], hit.abstained, hit.triage["category"]
    hits = index.search_many(texts, k=5, exclude=ids)     # one batched encode for all queries

Dense search is exact (matrix product + argpartition) unless the index was built with an
HNSW graph (usearch, above ``ann_threshold`` cases). Hybrid fuses the dense and BM25 rankings
with reciprocal rank fusion: score = sum_i w_i / (rrf_k + rank_i), ranks from 1.

Retained cases the main index does not hold yet (``cases-retained.jsonl``, see ``retained``) form a segment
searched beside it: rows ``len(index.metadata)`` on, dense exact, BM25 scored with the main index's statistics
plus the segment's. ``load_index`` attaches it; a search first picks up cases other processes appended
(``Index.sync``, at most once a second); ``index.current()`` is a fresh load once the main index was rebuilt.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from casebase.errors import CasebaseError
from casebase.retrieve.ann import HNSW
from casebase.retrieve.bm25 import BM25Index
from casebase.retrieve.config import SEARCH_K
from casebase.retrieve.embed import (Embedder, encode_batched, encode_queries, encoder_of, get_case_embedder,
                                     get_query_embedder, query_tokens)

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
        # queries: the model's query encoder (ONNX where it runs) unless an embedder was given, cut to this budget
        self._query_embedder: Embedder | None = embedder
        self._given_embedder = embedder  # what load_index was given (current() passes it on, not the lazy ones)
        self.query_tokens = query_tokens()
        self.ids = metadata["case_id"].astype(str).tolist()
        self._row = {cid: i for i, cid in enumerate(self.ids)}
        self.threshold = float(manifest["abstain"]["threshold"])
        self._records = metadata[["case_id", *CASE_FIELDS]].astype(object).where(metadata.notna(), None).to_dict("records")
        # the segment of retained cases (rows n_main on): (count, vector buffer) swapped as one, so a search that
        # took it sees a consistent segment while an append writes past its count
        self.n_main = len(self.ids)
        self._seg: tuple[int, np.ndarray] = (0, np.zeros((0, embeddings.shape[1] if embeddings.ndim == 2 else 0),
                                                         dtype=np.float32))
        self._seg_texts: list[str] = []
        self._seg_lengths: list[int] = []
        self._seg_postings: dict[str, list[tuple[int, int]]] = {}  # token -> [(segment row, tf)]
        self.workspace_root: Path | None = None  # set by load_index: then cases can be retained and synced
        self.sync_lock = threading.RLock()
        self.stale = False  # the main index was rebuilt or rewritten since this load: current() loads it again
        self._generation: tuple[int, str | None] = (0, None)
        self._retained_offset = self._vectors_offset = 0
        self._checked = 0.0
        self._vec_cache: dict = {}

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:  # case texts (retained cases): ONNX fp32 or torch, never int8
            self._embedder = get_case_embedder(self.manifest["model"])
        return self._embedder

    @property
    def query_embedder(self) -> Embedder:
        """The encoder of queries: ``get_query_embedder`` of the manifest's model (the embedder given to
        ``load_index``, when one was)."""
        if self._query_embedder is None:
            self._query_embedder = get_query_embedder(self.manifest["model"])
        return self._query_embedder

    def encoders(self) -> dict[str, Any]:
        """What encodes what (for manifests, logs and /healthz): the model, the encoder of the indexed cases (as
        the manifest recorded it) and that of queries here, with the query token budget."""
        query = self.query_embedder
        return {"model": self.manifest["model"], "cases": (self.manifest.get("encoder") or {}).get("cases"),
                "queries": encoder_of(query), "queries_why": getattr(query, "choice", None),
                "query_tokens": self.query_tokens}

    def search(self, text: str, k: int = SEARCH_K, mode: str = "hybrid", exclude: Exclude = None, **options) -> SearchResult:
        """Top ``k`` cases for one text; ``exclude``: case id(s) removed with their near-duplicates."""
        return self.search_many([text], k=k, mode=mode, exclude=[exclude], **options)[0]

    def search_many(self, texts: Sequence[str], k: int = SEARCH_K, mode: str = "hybrid",
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
        queries = (encode_queries(self.query_embedder, texts, self.query_tokens, f"embedding {len(texts)} queries")
                   if vectors is None else np.asarray(vectors, dtype=np.float32))
        self.sync()
        seg_n, seg_buf = self._seg
        seg = seg_buf[:seg_n]
        n = self.n_main + seg_n
        k, depth = min(k, n), min(max(depth, k, triage_k), n)
        out = []
        # Exact search scores a block of queries with one matrix product (far faster than one mat-vec each).
        block = max(1, min(256, (1 << 25) // max(n, 1)))
        sims_block = None
        for i, (text, q, ex) in enumerate(zip(texts, queries, exclude)):
            if self.ann is None and i % block == 0:
                sims_block = queries[i: i + block] @ self.embeddings.T
                if seg_n:
                    sims_block = np.concatenate([sims_block, queries[i: i + block] @ seg.T], axis=1)
            banned = self.excluded_rows(ex, near_duplicate, seg)
            dense_rows, dense_sims = self._dense_top(q, depth, banned, None if self.ann else sims_block[i % block],
                                                     seg)
            bm25_scores = None
            if mode != "dense":
                bm25_scores = self.bm25.scores(text)
                if seg_n:
                    bm25_scores = np.concatenate([bm25_scores, self._segment_bm25(text, seg_n)])
                if banned.size:
                    bm25_scores[banned] = 0.0
            if mode == "dense":
                ranked = list(zip(dense_rows.tolist(), dense_sims.tolist()))[:k]
            elif mode == "bm25":
                ranked = [(int(r), float(bm25_scores[r])) for r in _top(bm25_scores, k) if bm25_scores[r] > 0]
            else:
                lexical = [int(r) for r in _top(bm25_scores, depth) if bm25_scores[r] > 0]
                ranked = rrf([dense_rows.tolist(), lexical], weights, rrf_k)[:k]
            results = [self._result(rank, row, score, q, bm25_scores, seg) for rank, (row, score) in enumerate(ranked, 1)]
            best = float(dense_sims[0]) if dense_sims.size else -1.0
            near, sims = dense_rows[:triage_k], dense_sims[:triage_k].tolist()
            triage = {f: vote([self._records[r][f] for r in near.tolist()], sims) for f in TRIAGE_FIELDS}
            out.append(SearchResult(text, results, best < self.threshold, round(best, 4), self.threshold, triage))
        return out

    def stored_vectors(self, case_ids: Sequence[str], texts: Sequence[str]) -> np.ndarray | None:
        """The indexed embeddings of these cases when each is indexed with exactly this text, else None."""
        rows = [self._row.get(str(c)) for c in case_ids]
        if any(r is None for r in rows) or "text" not in self.metadata:
            return None
        indexed = self.metadata["text"].to_numpy()
        if any((indexed[r] if r < self.n_main else self._seg_texts[r - self.n_main]) != t for r, t in zip(rows, texts)):
            return None
        return self._vectors(rows)

    def _vectors(self, rows: Sequence[int], seg: np.ndarray | None = None) -> np.ndarray:
        """Embeddings of rows of the main index or the segment."""
        seg = self._seg[1][: self._seg[0]] if seg is None else seg
        rows = np.asarray(rows, dtype=np.int64)
        if not rows.size or rows.max() < self.n_main:
            return self.embeddings[rows]
        return np.stack([self.embeddings[r] if r < self.n_main else seg[r - self.n_main] for r in rows.tolist()])

    def excluded_rows(self, exclude: Exclude, near_duplicate: float = 0.95, seg: np.ndarray | None = None) -> np.ndarray:
        """Rows of the excluded case ids and of every case whose cosine to one of them is >= near_duplicate."""
        seg = self._seg[1][: self._seg[0]] if seg is None else seg
        ids = [exclude] if isinstance(exclude, str) else list(exclude or ())
        rows = [r for i in map(str, ids) if (r := self._row.get(i)) is not None and r < self.n_main + len(seg)]
        if not rows:
            return np.zeros(0, dtype=np.int64)
        vecs = self._vectors(rows, seg)
        if self.ann is not None:
            cand, sims = self.ann.search(vecs, min(self.n_main, 64))
            found = cand[(sims >= near_duplicate) & (cand >= 0)]
        else:
            found = np.nonzero((vecs @ self.embeddings.T >= near_duplicate).any(axis=0))[0]
        if len(seg):
            found = np.concatenate([found, self.n_main + np.nonzero((vecs @ seg.T >= near_duplicate).any(axis=0))[0]])
        return np.unique(np.concatenate([np.asarray(rows, dtype=np.int64), found.astype(np.int64)]))

    def _dense_top(self, q: np.ndarray, depth: int, banned: np.ndarray,
                   sims: np.ndarray | None = None, seg: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(rows, cosines) of the ``depth`` nearest cases, best first, ties by row; ``sims``: precomputed E @ q
        (main rows, then the segment's)."""
        seg = self._seg[1][: self._seg[0]] if seg is None else seg
        if self.ann is not None:
            rows, cos = self.ann.search(q[None, :], min(self.n_main, depth + banned.size))
            keep = (rows[0] >= 0) & ~np.isin(rows[0], banned)
            rows, cos = rows[0][keep][:depth], cos[0][keep][:depth]
            if len(seg):  # the segment is small: exact, merged with the graph's candidates
                seg_rows = self.n_main + np.arange(len(seg))
                keep = ~np.isin(seg_rows, banned)
                rows = np.concatenate([rows.astype(np.int64), seg_rows[keep]])
                cos = np.concatenate([cos.astype(np.float32), (seg @ q)[keep]])
            order = np.lexsort((rows, -cos))[:depth]
            return rows[order], cos[order]
        if sims is None:
            sims = self.embeddings @ q
            if len(seg):
                sims = np.concatenate([sims, seg @ q])
        else:
            sims = sims.copy()
        if banned.size:
            sims[banned] = -np.inf
        rows = _top(sims, depth)
        rows = rows[np.isfinite(sims[rows])]
        return rows, sims[rows]

    def _result(self, rank: int, row: int, score: float, q: np.ndarray, bm25_scores: np.ndarray | None,
                seg: np.ndarray | None = None) -> dict:
        rec = self._records[row]
        vec = self.embeddings[row] if row < self.n_main else self._vectors([row], seg)[0]
        return {"rank": rank, "case_id": rec["case_id"], "score": round(float(score), 6),
                "dense_score": round(float(vec @ q), 4),
                "bm25_score": None if bm25_scores is None else round(float(bm25_scores[row]), 4),
                **{f: rec[f] for f in CASE_FIELDS}}


    # ---------------------------------------------------------------- the segment of retained cases

    def _segment_bm25(self, text: str, seg_n: int) -> np.ndarray:
        """BM25 (Lucene, as bm25s) of the first ``seg_n`` segment cases, with the statistics of main + segment:
        the scores a rebuilt index would give these cases."""
        from casebase.retrieve.bm25 import tokenize

        info = self.manifest.get("bm25", {})
        k1, b = float(info.get("k1", 1.5)), float(info.get("b", 0.75))
        lengths = self._seg_lengths[:seg_n]
        total = self.n_main + seg_n
        main_avg = info.get("avgdl") or (sum(lengths) / max(len(lengths), 1))
        avgdl = max((main_avg * self.n_main + sum(lengths)) / total, 1e-9)
        vocab, indptr = self.bm25.retriever.vocab_dict, self.bm25.retriever.scores["indptr"]
        out = np.zeros(seg_n, dtype=np.float32)
        for token in tokenize(text):
            postings = [(r, tf) for r, tf in self._seg_postings.get(token, ()) if r < seg_n]
            if not postings:
                continue
            t = vocab.get(token)
            df = len(postings) + (int(indptr[t + 1] - indptr[t]) if t is not None else 0)
            idf = math.log(1 + (total - df + 0.5) / (df + 0.5))
            for r, tf in postings:
                out[r] += idf * tf / (k1 * ((1 - b) + b * lengths[r] / avgdl) + tf)
        return out

    def _add_segment(self, rows: list[dict], texts: list[str], vectors: np.ndarray) -> None:
        """Add retained cases to the segment (call with ``sync_lock`` held)."""
        from casebase.retrieve.retained import tokens_of

        n, buf = self._seg
        if n + len(rows) > len(buf):  # grow by doubling: an append copies the segment only now and then
            bigger = np.zeros((max(16, 2 * (n + len(rows))), self.embeddings.shape[1]), dtype=np.float32)
            bigger[:n] = buf[:n]
            buf = bigger
        buf[n: n + len(rows)] = vectors
        for i, (row, text) in enumerate(zip(rows, texts)):
            counts, length = tokens_of(text)
            self._seg_texts.append(text)
            self._seg_lengths.append(length)
            for token, tf in counts.items():
                self._seg_postings.setdefault(token, []).append((n + i, tf))
            self._records.append({"case_id": row["ticket_id"], **{f: row.get(f) for f in CASE_FIELDS}})
            self.ids.append(row["ticket_id"])
            self._row[row["ticket_id"]] = self.n_main + n + i
        self._seg = (n + len(rows), buf)

    def attach_retained(self, root: Path) -> None:
        """Load the retained cases of the workspace at ``root`` that the main index does not hold as the segment."""
        from casebase.retrieve.retained import GENERATION, read_generation

        self.workspace_root = Path(root)
        self._generation = (read_generation(root) if (Path(root) / GENERATION).exists()
                            else (0, self.manifest.get("build_id")))
        self._checked = time.monotonic()
        self._catch_up()

    def sync(self, force: bool = False, locked_already: bool = False) -> None:
        """Pick up retained cases other processes appended (a stat-cheap read of the generation, at most once a
        second unless ``force``); a rebuilt main index sets ``stale`` instead (``current()`` reloads)."""
        from casebase.retrieve.retained import read_generation

        if self.workspace_root is None or self.stale:
            return
        now = time.monotonic()
        if not force and now - self._checked < 1.0:
            return
        self._checked = now
        generation = read_generation(self.workspace_root)
        if generation == self._generation and not force:
            return
        if generation[1] is not None and generation[1] != self._generation[1]:
            self.stale = True
            return
        with self.sync_lock:
            self._catch_up(locked_already)
            self._generation = generation

    def _catch_up(self, locked_already: bool = False) -> None:
        """Read the retained file from where this index stopped; new cases join the segment."""
        from contextlib import nullcontext

        from casebase.retrieve.retained import RETAINED, case_text, id_key, locked, parse_lines, read_vectors, text_key

        root = self.workspace_root
        path = root / RETAINED
        with nullcontext() if locked_already else locked(root, shared=True):
            try:
                with open(path, "rb") as f:
                    size = f.seek(0, 2)
                    if size < self._retained_offset:  # rewritten (forget): only a full load is right
                        self.stale = True
                        return
                    f.seek(self._retained_offset)
                    data = f.read()
            except FileNotFoundError:
                return
            data = data[: data.rfind(b"\n") + 1]
            if not data:
                return
            found, self._vectors_offset = read_vectors(root, self.manifest["dimension"], self._vectors_offset)
            self._vec_cache.update(found)
            self._retained_offset += len(data)
        mode, model = self.manifest["text"], self.manifest["model"]
        rows, texts, vectors, missing, taken = [], [], [], [], set()
        for row in parse_lines(data, str(path)):
            if row["ticket_id"] in self._row or row["ticket_id"] in taken:
                continue  # merged into the main index (or a train id, which wins), or appended twice
            text = case_text(row, mode)
            cached = self._vec_cache.pop(id_key(row["ticket_id"]), None)
            if cached is None or cached[0] != text_key(model, text):
                missing.append(len(rows))  # its vector never reached the file (a kill between the appends)
            rows.append(row)
            taken.add(row["ticket_id"])
            texts.append(text)
            vectors.append(None if cached is None else cached[1])
        # what is left holds this process's own appends (already in the segment) or ids the main index has: every
        # line that was read had its vector written before the lock was released, so nothing later needs them
        self._vec_cache.clear()
        if not rows:
            return
        if missing:
            fresh = encode_batched(self.embedder, [texts[i] for i in missing], f"embedding {len(missing)} retained case(s)")
            for i, v in zip(missing, fresh):
                vectors[i] = v
        self._add_segment(rows, texts, np.stack(vectors).astype(np.float32))

    def current(self) -> "Index":
        """This index, or (after a rebuild or forget rewrote the main index) a fresh load of it."""
        self.sync()
        if not self.stale or self.workspace_root is None:
            return self
        from casebase.progress import log
        from casebase.workspace import Workspace

        try:
            return load_index(Workspace(self.workspace_root), embedder=self._given_embedder)
        except CasebaseError as err:  # mid-rebuild: keep serving this one, try again on a later search
            log(f"note: the index was rebuilt but cannot be loaded yet ({err}); serving the loaded one")
            self.stale, self._checked = False, time.monotonic()
            return self


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest scores, best first (argpartition, then a sort of only k)."""
    k = min(k, scores.size)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    part = np.argpartition(-scores, k - 1)[:k] if k < scores.size else np.arange(scores.size)
    return part[np.lexsort((part, -scores[part]))]


def index_dir(ws) -> Path:
    return ws.index


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
    index = Index(root, manifest, embeddings, metadata, BM25Index.load(root / "bm25"), ann, embedder)
    index.attach_retained(Path(ws.root))
    return index

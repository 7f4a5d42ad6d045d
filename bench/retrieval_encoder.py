"""Query-encoder comparison of bench/retrieval.py (--encoder, --query-tokens): torch against ONNX Runtime encoders
of the same model, at several query token budgets, in one run.

Imported by bench/retrieval.py, which documents the parts and their command lines. The reference of every quality
limit is torch at 256 tokens (sentence-transformers' max_seq_length for MiniLM) in the same run; the issue's limits:
dense MRR@10 within 0.01, hybrid MRR@10 within 0.005, triage accuracy within 0.01.
"""

from __future__ import annotations

import time

import numpy as np

from casebase.retrieve.embed import encode_queries, encoder_of, get_embedder, get_query_embedder

REFERENCE_TOKENS = 256
LIMITS = {"dense_mrr@10": 0.01, "hybrid_mrr@10": 0.005, "triage_accuracy": 0.01}


def load_encoders(embedder_name: str | None, names: list[str]) -> list[tuple[str, object]]:
    """[(label, embedder)]: torch first (the reference), then each of ``names`` (onnx, onnx-int8) as the product
    loads it; one that fell back to torch is labelled so, not passed off as ONNX."""
    torch_emb = get_embedder(embedder_name)
    out = [(encoder_of(torch_emb), torch_emb)]
    for name in names:
        emb = get_query_embedder(embedder_name, setting=name)
        label = encoder_of(emb)
        out.append((label if emb is not torch_emb else f"{name} (fell back to {label})", emb))
    return out


def budgets_of(values: list[int]) -> list[int]:
    """The budgets measured: those asked for and the reference (256), shortest first."""
    return sorted(set(values) | {REFERENCE_TOKENS})


def vectors_for(encoders, budgets, texts: list[str]) -> dict[tuple[str, int], np.ndarray]:
    """(encoder label, budget) -> the texts' query vectors (as Index.search_many encodes them)."""
    return {(label, b): encode_queries(emb, texts, b, f"queries {label} {b}") for label, emb in encoders for b in budgets}


def cut_share(embedder, texts: list[str], budget: int) -> float:
    """Share of the texts the budget cuts."""
    cut = getattr(embedder, "cut", None)
    if cut is None:
        return 0.0
    return float(np.mean([a != b for a, b in zip(cut(texts, budget), texts)]))


def time_queries(encoders, budgets, texts: list[str], rounds: int = 2) -> list[dict]:
    """ms per query, one query at a time (encode_queries of one text), the same texts for every encoder and budget;
    rounds alternate the encoders so shared-CPU noise hits each; the best round's mean and p50 are kept."""
    for _, emb in encoders:  # warm up (first-call allocations, thread pools)
        for t in texts[:5]:
            encode_queries(emb, [t], REFERENCE_TOKENS, "warm up")
    times: dict[tuple[str, int], list[list[float]]] = {}
    for _ in range(rounds):
        for label, emb in encoders:
            for b in budgets:
                each = []
                for t in texts:
                    t0 = time.perf_counter()
                    encode_queries(emb, [t], b, "one query")
                    each.append((time.perf_counter() - t0) * 1000)
                times.setdefault((label, b), []).append(each)
    rows = []
    base = {b: min(np.mean(r) for r in times[(encoders[0][0], b)]) for b in budgets}
    ref = base[REFERENCE_TOKENS]
    for (label, b), runs in times.items():
        best = min(runs, key=np.mean)
        mean = float(np.mean(best))
        rows.append({"encoder": label, "query_tokens": b, "queries": len(texts), "ms_per_query": round(mean, 2),
                     "p50_ms": round(float(np.median(best)), 2), "p99_ms": round(float(np.percentile(best, 99)), 2),
                     "speedup_vs_torch_same_budget": round(base[b] / mean, 2),
                     "speedup_vs_torch_256": round(ref / mean, 2)})
    return rows


def top10_overlap(a: np.ndarray, b: np.ndarray, embeddings: np.ndarray) -> float:
    """Mean share of the 10 nearest cases two sets of query vectors have in common."""
    def top(q):
        sims = q @ embeddings.T
        return np.argpartition(-sims, 9, axis=1)[:, :10]
    ta, tb = top(a), top(b)
    return float(np.mean([len(set(x) & set(y)) / 10 for x, y in zip(ta.tolist(), tb.tolist())]))


def verdicts(rows: list[dict], metrics: tuple[str, ...]) -> None:
    """Add to each row its distance to torch at 256 and whether each limit holds (``within_limits``)."""
    ref = next(r for r in rows if r["encoder"] == rows[0]["encoder"] and r["query_tokens"] == REFERENCE_TOKENS)
    for r in rows:
        ok = True
        for m in metrics:
            r[f"{m}_delta"] = round(r[m] - ref[m], 4)
            ok &= r[m] >= ref[m] - LIMITS[m] - 1e-9
        r["within_limits"] = bool(ok)

"""Retrieval over the case base: dense (sentence-transformers) + BM25, fused with RRF.

    from casebase.retrieve import build_index, add_to_index, load_index
    manifest = build_index(ws)                    # train.jsonl -> ws/index/ (what `casebase index` runs)
    manifest = add_to_index(ws, "new.jsonl")      # append cases; old ones are not re-embedded
    index = load_index(ws)
    hit = index.search("SQL0911N deadlock in ME21N", k=5, mode="hybrid", exclude="T-1042")
    hit.results, hit.abstained, hit.triage        # list of dicts, bool, {"category": {...}, "urgency": {...}}
    hits = index.search_many(texts, k=5)          # one batched encode for many queries

Modules: ``embed`` (Embedder protocol, bundled MiniLM, FakeEmbedder), ``bm25`` (identifier-keeping
tokenizer, bm25s), ``index`` (search, RRF, abstain, triage vote), ``build`` (index files and
manifests), ``ann`` (optional HNSW via usearch).
"""

from casebase.retrieve.build import TEXT_MODES, add_to_index, build_index, parse_weights, read_cases, read_queries
from casebase.retrieve.bm25 import BM25Index, tokenize
from casebase.retrieve.embed import DEFAULT_MODEL, Embedder, FakeEmbedder, get_embedder
from casebase.retrieve.index import MODES, Index, SearchResult, load_index, rrf, vote

__all__ = ["build_index", "add_to_index", "load_index", "Index", "SearchResult", "Embedder", "FakeEmbedder",
           "get_embedder", "DEFAULT_MODEL", "BM25Index", "tokenize", "rrf", "vote", "read_cases", "MODES",
           "TEXT_MODES", "parse_weights", "read_queries"]

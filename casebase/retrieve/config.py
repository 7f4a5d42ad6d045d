"""The index stage's settings: ``casebase index --config index.toml`` or its flags (``--add`` is an action, not a
setting: it appends to the index these settings built)."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import Field

from casebase.config import StageConfig

TextMode = Literal["problem", "problem+solution"]
AnnMode = Literal["auto", "always", "never"]
TEXT_MODES: tuple[str, ...] = get_args(TextMode)
ANN_MODES: tuple[str, ...] = get_args(AnnMode)


class IndexConfig(StageConfig):
    text: TextMode = Field("problem", description="Indexed text: problem, or problem+solution.")
    model: str | None = Field(None, description="sentence-transformers model (directory or name); none: the bundled "
                              "all-MiniLM-L6-v2; fake for tests. The manifest records the model's name.")
    ann_threshold: int = Field(50_000, ge=0, description="Above this many cases, build an HNSW graph (needs "
                               "usearch), else exact search.")
    ann: AnnMode = Field("auto", description="Above the threshold: auto keeps the graph only if, calibrated on the "
                         "cases, it reaches --ann-recall faster than exact search; always keeps it; never stays exact.")
    ann_recall: float = Field(0.95, gt=0, le=1, description="Target recall@10 of the HNSW graph against exact "
                              "search; sets its expansion_search.")
    abstain_quantile: float = Field(0.10, ge=0, le=1, description="Abstain threshold = this quantile of val cases' "
                                    "best-match similarity.")
    force: bool = Field(False, description="Rebuild even when the index is up to date.")


SearchMode = Literal["hybrid", "dense", "bm25"]
QueryEncoder = Literal["auto", "torch", "onnx", "onnx-int8"]


class SearchConfig(StageConfig):
    """`casebase search` and `GET /api/search` (not a stage: it writes nothing)."""

    k: int = Field(5, ge=1, le=50, description="Number of cases to return.")
    mode: SearchMode = Field("hybrid", description="hybrid (dense + BM25, RRF), dense or bm25.")
    weights: str = Field("1,1", description="Hybrid weights DENSE,BM25 for reciprocal rank fusion.")
    query_tokens: int = Field(128, ge=16, le=512, description="Query token budget: a query (a ticket's problem) is "
                              "cut to this many tokens ([CLS] and [SEP] included) before the dense encode; BM25 "
                              "reads all of it and case texts are indexed whole. 128: the shortest of 64/96/128/256 "
                              "within the quality limits on forum-support (docs/benchmarks.md, Query encoder). "
                              "CASEBASE_QUERY_TOKENS overrides.")
    query_encoder: QueryEncoder = Field("auto", description="How queries are encoded: auto (ONNX Runtime, int8 "
                                        "where the CPU has VNNI/AMX, fp32 elsewhere; torch on a GPU), torch, onnx "
                                        "(fp32) or onnx-int8; torch is the fallback, with a log line. "
                                        "CASEBASE_QUERY_ENCODER overrides.")


SEARCH_K: int = SearchConfig.model_fields["k"].default

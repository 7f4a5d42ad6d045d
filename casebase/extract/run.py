"""The extract stage: one case per ticket, from its redacted messages only.

    casebase extract --workspace ws                      # heuristic (default)
    casebase extract --workspace ws --method llm --llm local --limit 20

Writes ``cases.parquet`` (ticket_id, opened_at, subject, problem, resolved,
solution_message_ids, solution, category, urgency, extractor, ...) and ``extract.json``.
Work is cached per ticket in ``cache/extract-<method>.jsonl``; a killed run resumes.
"""

from __future__ import annotations

import json
import time
from typing import Literal

import pandas as pd
from pydantic import Field, model_validator

from casebase.config import StageConfig, resolve
from casebase.errors import CasebaseError
from casebase.extract.cache import JsonlCache, content_key
from casebase.extract.heuristic import extract_one, flag, status_of
from casebase.extract.judge import Judge, tally
from casebase.extract.scorer import code_version, default_scorer
from casebase.progress import track
from casebase.workspace import Manifest, Workspace, atomic_write, file_sha256, read_parquet, write_manifest

CASE_COLUMNS = ["ticket_id", "opened_at", "subject", "problem", "resolved", "solution_message_ids", "solution",
                "category", "urgency", "candidate_message_id", "resolved_score", "solution_internal", "extractor"]


def load_threads(ws: Workspace) -> tuple[pd.DataFrame, dict[str, list[dict]], dict[str, int]]:
    ws.require("ingest", ws.tickets, ws.messages)
    for path in (ws.tickets, ws.messages):
        if not path.exists():
            raise CasebaseError(f"{path} not found: run `casebase ingest --workspace {ws.root}` first.")
    tickets = read_parquet(ws.tickets, f"casebase ingest --workspace {ws.root}")
    msgs = read_parquet(ws.messages, f"casebase ingest --workspace {ws.root}")
    threads = {tid: g.to_dict("records") for tid, g in msgs.sort_values(["ticket_id", "position"]).groupby(
        "ticket_id", sort=False)}
    activity = msgs.loc[msgs["role"] == "responder", "author"].value_counts().to_dict()
    return tickets, threads, activity


class ExtractConfig(StageConfig):
    method: Literal["heuristic", "llm"] = Field("heuristic", description="heuristic (no LLM, learned scorer) or "
                                                "llm.")
    llm: str | None = Field(None, description="LLM spec for --method llm or --judge: local, "
                            "local:PATH, openai:BASE_URL#MODEL, fake.")
    limit: int | None = Field(None, ge=1, description="Only the first N tickets by date (written to "
                              "cases-<method>-limitN.parquet).")
    batch_size: int = Field(8, ge=1, description="Tickets per LLM batch.")
    min_precision: float = Field(0.85, gt=0, le=1, description=(
        "The heuristic's resolved call: the lowest threshold on resolved_score whose case-base precision on solved "
        "threads (the share of cases carrying the accepted solution) reached this on the scorer's validation "
        "threads; higher: fewer, surer cases. The threshold and its validation figures go to extract.json "
        "(operating_point)."))
    judge: bool = Field(False, description=(
        "Send the heuristic's uncertain threads (resolved_score within judge_band of the threshold, the learned call "
        "deciding) with its top two replies to the --llm model, which picks one or says unresolved "
        "(casebase/extract/judge.py). Untested against a capable model: measure with bench/extract.py --judge-llm."))
    judge_band: float = Field(0.15, gt=0, le=0.5, description=(
        "Half-width of the judged band: threads with threshold - judge_band <= resolved_score < threshold + "
        "judge_band go to the judge."))

    @model_validator(mode="after")
    def _judge_needs_a_model(self):
        if self.judge and not self.llm:
            raise ValueError("--judge needs --llm SPEC naming a capable model (e.g. openai:URL#MODEL)")
        if self.judge and self.method != "heuristic":
            raise ValueError("--judge revisits the heuristic's calls: use it with --method heuristic (the llm "
                             "method already asks the model about every thread)")
        return self


def run(ws: Workspace, cfg: ExtractConfig | None = None, **overrides) -> Manifest:
    """Extract a case from every ticket (the first ``limit`` by date if given); return the manifest.

    ``run(ws, ExtractConfig(method="llm", llm="fake"))`` or ``run(ws, method="llm", llm="fake")``."""
    cfg = resolve(ExtractConfig, cfg, overrides, "extract")
    method, llm, limit, batch_size = cfg.method, cfg.llm, cfg.limit, cfg.batch_size
    t0 = time.perf_counter()
    tickets, threads, activity = load_threads(ws)
    tickets = tickets.sort_values(["opened_at", "ticket_id"]).reset_index(drop=True)
    if limit:
        tickets = tickets.head(limit)
    scorer = default_scorer()
    point = scorer.operating_point(cfg.min_precision)  # raises, naming the reachable precision, when out of reach
    threshold = point["threshold"]
    records = tickets.to_dict("records")

    if method == "heuristic":
        # the threshold is part of the cache key: another --min-precision calls the tickets again
        extractor = {"method": "heuristic", "model": f"scorer-{scorer.fingerprint[:12]}",
                     "prompt_version": None, "code": code_version(), "resolved_threshold": threshold}
        work = lambda batch: [extract_one(t, threads.get(t["ticket_id"], []), activity, scorer, threshold)  # noqa: E731
                              for t in batch]
        if cfg.judge:  # its model, weights and band join the key: judged and unjudged cases never mix
            judge = Judge(llm, scorer, activity, threshold, cfg.judge_band)
            extractor["judge"] = judge.key
            heuristic = work
            work = lambda batch: judge.review([(t, threads.get(t["ticket_id"], [])) for t in batch],  # noqa: E731
                                              heuristic(batch))
    else:
        from casebase.extract.llm_method import PROMPT_VERSION, LlmExtractor

        extractor_impl = LlmExtractor(llm, activity=activity, scorer=scorer, threshold=threshold)
        extractor = {"method": "llm", "model": extractor_impl.llm.name, "prompt_version": PROMPT_VERSION,
                     "scorer": scorer.fingerprint[:12], "code": code_version(),
                     "resolved_threshold": threshold}  # its heuristic fallback's
        work = lambda batch: extractor_impl.extract([(t, threads.get(t["ticket_id"], [])) for t in batch])  # noqa: E731

    cache = JsonlCache(ws.cache / f"extract-{method}.jsonl")
    # tickets.status takes part in the resolved call: in the key when the export has it (keys without it unchanged)
    keys = [content_key(t.get("subject"), t.get("resolution"), threads.get(t["ticket_id"], []), extractor,
                        *(() if status_of(t) is None else (("status", status_of(t)),)))
            for t in records]
    todo = [i for i, k in enumerate(keys) if cache.get(k) is None]
    cached = len(records) - len(todo)
    batches = [todo[i: i + batch_size] for i in range(0, len(todo), batch_size)]
    try:
        for batch in track(batches, f"extract ({method})", total=len(batches)):
            for i, result in zip(batch, work([records[i] for i in batch])):
                cache.put(keys[i], records[i]["ticket_id"], result)
    finally:
        cache.close()
    t_work = time.perf_counter() - t0

    rows = []
    for t, k in zip(records, keys):
        r = cache.get(k)
        rows.append({
            "ticket_id": t["ticket_id"], "opened_at": t.get("opened_at"), "subject": t.get("subject"),
            "problem": r["problem"], "resolved": bool(r["resolved"]),
            "solution_message_ids": list(r["solution_message_ids"]), "solution": r["solution"],
            "category": t.get("category") if not _missing(t.get("category")) else r.get("category"),
            "urgency": t.get("urgency") if not _missing(t.get("urgency")) else r.get("urgency"),
            "candidate_message_id": r.get("candidate_message_id"), "resolved_score": r.get("resolved_score"),
            "solution_internal": solution_internal(list(r["solution_message_ids"]), threads.get(t["ticket_id"], [])),
            "extractor": json.dumps({**(r.get("extractor") or extractor), **(
                {"judge": r.get("judge")} if cfg.judge else {})}),
        })
    cases = pd.DataFrame(rows, columns=CASE_COLUMNS)
    # a partial run (--limit) must not replace the full case base
    path = ws.root / ("cases.parquet" if not limit else f"cases-{method}-limit{limit}.parquet")
    stage = path.stem.replace("cases", "extract", 1)  # extract.json, or extract-llm-limit20.json beside its cases
    ws.begin(stage)
    atomic_write(path, lambda tmp: cases.to_parquet(tmp, index=False))
    fallbacks = sum(json.loads(e).get("fallback") is not None for e in cases["extractor"])
    judged = tally([json.loads(e).get("judge") for e in cases["extractor"]]) if cfg.judge else None
    return write_manifest(
        ws, stage,
        config=cfg.saved(),
        inputs={"tickets": ws.tickets, "messages": ws.messages},
        counts={"tickets": len(records), "cases": len(cases), "resolved": int(cases["resolved"].sum()),
                "unresolved": int((~cases["resolved"]).sum()), "from_cache": cached, "worked": len(todo),
                "llm_fallbacks": fallbacks, **({"judged": judged["sent"]} if judged else {})},
        timings={"total": time.perf_counter() - t0, "work": t_work,
                 "tickets_per_minute": 60 * len(todo) / max(t_work, 1e-9)},
        extra={"extractor": extractor, "outputs": [str(path)],
               "scorer": {k: scorer.meta.get(k) for k in ("cv_accuracy", "labels_sha256", "manifest")},
               "operating_point": {"min_precision": cfg.min_precision, **point,
                                   "measured_on": "the scorer's validation threads (docs/extract.md)"},
               "output_sha256": file_sha256(path), **({"judge": {**extractor["judge"], **judged}} if judged else {})},
        files=[path],
    )


def solution_internal(ids: list[str], thread: list[dict]) -> bool:
    """Whether a message the solution comes from is an internal note: a customer-facing draft must say so."""
    wanted = set(map(str, ids))
    return any(flag(m.get("internal")) for m in thread if str(m.get("message_id")) in wanted)


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and value != value) or str(value).strip() == ""

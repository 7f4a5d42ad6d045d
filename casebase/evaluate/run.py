"""Evaluate every arm on held-out tickets: ``casebase evaluate``.

    casebase evaluate --workspace ws --limit 60                      # all arms whose models exist
    casebase evaluate --workspace ws --arms retrieval,base+rag,hybrid+rag --gold-file solutions.csv
    casebase evaluate --workspace ws --llm openai:http://gpu:8000/v1#meta-llama/Llama-3.2-1B-Instruct

Each test ticket is asked the way a new ticket arrives: its subject and first customer message
(redacted), condensed by the same function that wrote the train problems. Gold is the test
case's solution, or with ``--gold-file`` (ticket_id, solution_message_id; forum-support's
solutions.csv; by default the split file `casebase split` honoured, when it has that column) the
accepted post, condensed the same way as train solutions. Arms:

- ``retrieval``: the solution of the top case of the hybrid search (no LLM); triage from the vote;
- ``base`` / ``base+rag``: the untuned model, without / with the top k cases in the prompt;
- ``standard`` / ``standard+rag``: the standard adapter (models/standard), without / with cases;
- ``hybrid+rag``: the RAFT adapter (models/hybrid) with cases, as it was trained.

Every LLM arm uses the prompt and answer format of training (``casebase.llm.answer``). Replies
are cached in ``eval/<run>/cache.jsonl`` keyed on content: the exact prompt, the base model's weights, the
adapter's sha256 and the generation settings, so a killed run resumes and a retrained adapter is asked again.
The arm it recommends becomes a release (``releases/<run>/manifest.json``, ``casebase.releases``).
A reply without a parseable answer is scored as it stands (it is what an agent would see) and
counted as a parse failure. With ``--llm openai:URL#MODEL`` the base arms ask MODEL and the adapter
arms ask the models ``standard`` and ``hybrid`` (vLLM: ``--enable-lora --lora-modules
standard=ws/models/standard hybrid=ws/models/hybrid``).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from casebase.arms import ADAPTER, ARMS, ArmModels, parse_arms, uses_rag
from casebase.config import resolve
from casebase.errors import CasebaseError
from casebase.evaluate.config import EvaluateConfig
from casebase.extract.cache import JsonlCache, content_key
from casebase.llm.answer import PROMPT_VERSION, TokenBudget, build_messages, parse_answer
from casebase.metrics import chrf, rouge_l, token_prf
from casebase.progress import log
from casebase.text import SOLUTION_WORDS, condense, problem_text
from casebase.workspace import Manifest, Workspace, atomic_write, begin_outputs, read_parquet, write_json, write_manifest

__all__ = ["ARMS", "EvaluateConfig", "run", "parse_arms"]


@dataclass
class Ticket:
    ticket_id: str
    text: str
    gold: str
    category: str | None
    urgency: str | None


def load_tickets(ws: Workspace, limit: int | None, gold_file: Path | None) -> list[Ticket]:
    """Test tickets as a new ticket arrives (subject + first customer message), with their gold resolution."""
    path = ws.split("test")
    ws.require("split", path)
    if not path.exists():
        raise CasebaseError(f"{path} not found: run `casebase split --workspace {ws.root}` first.")
    from casebase.retrieve.build import read_cases

    test = read_cases(path)
    if limit:
        test = test.head(limit)
    first, subjects, bodies = {}, {}, {}
    if ws.messages.exists() and ws.tickets.exists():
        ws.require("ingest", ws.tickets, ws.messages)
        rerun = f"casebase ingest --workspace {ws.root}"
        msgs = read_parquet(ws.messages, rerun, columns=["ticket_id", "message_id", "position", "role", "body"])
        msgs = msgs[msgs["ticket_id"].isin(set(test["ticket_id"]))].sort_values(["ticket_id", "position"])
        customer = msgs[msgs["role"] == "customer"].drop_duplicates("ticket_id")
        first = dict(zip(customer["ticket_id"], customer["body"]))
        bodies = dict(zip(msgs["message_id"].astype(str), msgs["body"]))
        t = read_parquet(ws.tickets, rerun, columns=["ticket_id", "subject"])
        subjects = dict(zip(t["ticket_id"], t["subject"]))
    gold = {}
    if gold_file is not None:
        if not Path(gold_file).exists():
            raise CasebaseError(f"--gold-file {gold_file} not found")
        g = pd.read_csv(gold_file, dtype=str)
        if not {"ticket_id", "solution_message_id"} <= set(g.columns):
            raise CasebaseError(f"--gold-file {gold_file}: needs columns ticket_id, solution_message_id "
                                f"(it has {', '.join(g.columns)})")
        gold = {r.ticket_id: condense(bodies.get(r.solution_message_id, ""), SOLUTION_WORDS)
                for r in g.itertuples() if r.solution_message_id in bodies}
    tickets = []
    for r in test.to_dict("records"):
        tid = r["ticket_id"]
        text = problem_text(subjects.get(tid), first[tid]) if tid in first else r["problem"]
        tickets.append(Ticket(tid, text, gold.get(tid) or r["solution"], _label(r.get("category")),
                              _label(r.get("urgency"))))
    if gold_file is not None:
        log(f"gold from {gold_file}: {sum(t.ticket_id in gold for t in tickets)} of {len(tickets)} tickets "
            f"(the rest keep the test case's solution)")
    return tickets


def default_gold_file(ws: Workspace) -> Path | None:
    """The split file `casebase split --split-file` honoured, when it names each ticket's solution message."""
    split = ws.read_manifest("split") or {}
    path = (split.get("config") or {}).get("split_file")
    if not path or not Path(path).exists():
        return None
    columns = pd.read_csv(path, nrows=0).columns
    if "solution_message_id" in columns:
        log(f"gold: the solution messages named in {path} (the split file of `casebase split`)")
        return Path(path)
    return None


def _label(value) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)) or str(value).strip() == "":
        return None
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value).strip()


def generate_arm(arm: str, tickets: list[Ticket], contexts: list[list[dict]], models: ArmModels,
                 cache: JsonlCache, max_new_tokens: int, batch_size: int) -> list[str]:
    """Replies of one LLM arm for every ticket, from the cache where present. The cache key is the content the
    reply depends on (prompt, base weights, adapter sha256, generation settings), never a model's name."""
    llm, max_length = models.get(arm)
    budget = TokenBudget.of(getattr(llm, "tokenizer", None), max_length - max_new_tokens)
    messages = [build_messages(t.text, ctx if uses_rag(arm) else [], budget) for t, ctx in zip(tickets, contexts)]
    model = models.fingerprints.setdefault(arm, models.fingerprint(arm))  # taken before generating: see run()
    settings = {"max_new_tokens": max_new_tokens, "temperature": 0.0, "prompt_version": PROMPT_VERSION}
    keys = [content_key(model, m, settings) for m in messages]
    todo = [i for i, key in enumerate(keys) if cache.get(key) is None]
    log(f"{arm}: {len(tickets) - len(todo)} replies cached, {len(todo)} to generate with {llm.name}")
    for start in range(0, len(todo), batch_size * 4):  # write to the cache every few batches
        chunk = todo[start:start + batch_size * 4]
        replies = llm.generate([messages[i] for i in chunk], max_new_tokens=max_new_tokens)
        for i, reply in zip(chunk, replies):
            cache.put(keys[i], tickets[i].ticket_id, {"arm": arm, "reply": reply})
    return [cache.get(key)["reply"] for key in keys]


def score(arm: str, ticket: Ticket, answer: str, parsed, triage: dict, hit) -> dict:
    p, r, f1 = token_prf(answer, ticket.gold)
    category = triage.get("category") if arm == "retrieval" else (parsed.category if parsed else None)
    urgency = triage.get("urgency") if arm == "retrieval" else (parsed.urgency if parsed else None)
    row = {"ticket_id": ticket.ticket_id, "arm": arm, "answer": answer, "parsed": parsed is not None or arm == "retrieval",
           "rouge_l": rouge_l(answer, ticket.gold), "token_precision": p, "token_recall": r, "token_f1": f1,
           "chrf": chrf(answer, ticket.gold), "answer_words": len(answer.split()),
           "gold_category": ticket.category, "pred_category": category,
           "category_correct": None if ticket.category is None else float(str(category) == ticket.category),
           "gold_urgency": ticket.urgency, "pred_urgency": urgency,
           "urgency_correct": None if ticket.urgency is None else float(str(urgency) == ticket.urgency),
           "retrieved_ids": json.dumps([x["case_id"] for x in hit.results]),
           "retrieved_scores": json.dumps([round(x["score"], 5) for x in hit.results]),
           "abstained": hit.abstained}
    return row


def run(ws: Workspace, cfg: EvaluateConfig | None = None, **overrides) -> Manifest:
    """Generate and score every arm on the test tickets; write eval/<name>/ and the release of the arm it
    recommends; return the summary (with ``release``)."""
    from casebase.evaluate.report import summarise, write_report
    from casebase.releases import write_release
    from casebase.retrieve import load_index

    cfg = resolve(EvaluateConfig, cfg, overrides, "evaluate")
    started = time.perf_counter()
    arm_list = parse_arms(cfg.arms, ws)
    gold_file = cfg.gold_file or default_gold_file(ws)
    tickets = load_tickets(ws, cfg.limit, gold_file)
    if not tickets:
        raise CasebaseError("test.jsonl holds no cases: rerun `casebase split` with a larger --test-share")
    name = cfg.name or f"{dt.datetime.now():%Y%m%d-%H%M%S}" + (f"-limit{cfg.limit}" if cfg.limit else "")
    cfg = cfg.model_copy(update={"name": name, "arms": ",".join(arm_list)})  # the manifest records what ran
    out = ws.eval_run(name)
    out.mkdir(parents=True, exist_ok=True)
    index = load_index(ws)
    hits = index.search_many([t.text for t in tickets], k=cfg.k, exclude=[t.ticket_id for t in tickets])
    contexts = [[{f: r[f] for f in ("case_id", "problem", "solution", "category", "urgency")} for r in h.results]
                for h in hits]
    cache = JsonlCache(out / "cache.jsonl")
    models = ArmModels(ws, cfg.llm, cfg.batch_size)
    rows, timings = [], {}
    try:
        for arm in arm_list:
            t0 = time.perf_counter()
            if arm == "retrieval":
                replies = [h.results[0]["solution"] if h.results else "" for h in hits]
            else:
                replies = generate_arm(arm, tickets, contexts, models, cache, cfg.max_new_tokens, cfg.batch_size)
            for ticket, hit, reply in zip(tickets, hits, replies):
                parsed = None if arm == "retrieval" else parse_answer(reply)
                answer = reply if arm == "retrieval" else (parsed.solution if parsed else reply.strip())
                triage = {f: hit.triage[f]["value"] for f in ("category", "urgency")}
                rows.append(score(arm, ticket, answer, parsed, triage, hit))
            timings[arm] = time.perf_counter() - t0
    finally:
        cache.close()
    results = pd.DataFrame(rows)
    _add_embedding_cosine(results, {t.ticket_id: t.gold for t in tickets}, index)
    begin_outputs(out / "manifest.json")  # each file renamed into place whole, the manifest last (with their hashes)
    atomic_write(out / "results.csv", lambda tmp: results.to_csv(tmp, index=False))
    summary = summarise(results, arm_list, n_resamples=cfg.n_resamples)
    summary.update({"run": name, "tickets": len(tickets), "arms": arm_list, "gold": str(gold_file or "test.jsonl"),
                    "llm": cfg.llm or "local", "k": cfg.k, "max_new_tokens": cfg.max_new_tokens,
                    "base_models_loaded": models.base_models_loaded(),
                    "timings_s": {a: round(s, 1) for a, s in timings.items()}})
    write_json(out / "summary.json", summary)
    write_report(out, summary, results, tickets, ws)
    inputs = {"test": ws.split("test"), "index": index.root / "manifest.json"}
    for a in {ADAPTER.get(x) for x in arm_list} - {None}:
        inputs[f"adapter_{a}"] = ws.model(a) / "adapter_model.safetensors"
    saved = cfg.saved() | {"gold_file": str(Path(gold_file).resolve()) if gold_file else None}
    recommended = summary["recommended"]
    if recommended in models.fingerprints and models.fingerprint(recommended) != models.fingerprints[recommended]:
        raise CasebaseError(f"the model of {recommended} changed on disk while it was evaluated (a `casebase train` "
                            f"meanwhile?): its replies are not of the weights there now; evaluate again "
                            f"(`casebase rerun {out / 'manifest.json'}`)")
    write_manifest(ws, "evaluate", path=out / "manifest.json", config=saved,
                   inputs=inputs, counts={"tickets": len(tickets), "rows": len(results)},
                   timings={"total": time.perf_counter() - started, **timings},
                   extra={"outputs": {k2: str(out / f) for k2, f in
                                      (("results", "results.csv"), ("summary", "summary.json"), ("report", "report.html"))}},
                   files=[out / f for f in ("results.csv", "summary.json", "report.html")])
    summary["release"] = write_release(ws, name=name, summary=summary, config=saved, eval_manifest=out / "manifest.json")
    summary["outputs"] = {"dir": str(out), "results": str(out / "results.csv"), "summary": str(out / "summary.json"),
                          "report": str(out / "report.html"), "release": str(ws.release(name))}
    return summary


def _add_embedding_cosine(results: pd.DataFrame, gold: dict[str, str], index) -> None:
    """Cosine of answer and gold in the index's embedding space (MiniLM by default)."""
    from casebase.retrieve.embed import encode_batched

    texts = sorted(set(results["answer"].fillna("")) | set(gold.values()))
    vectors = dict(zip(texts, encode_batched(index.embedder, texts, "embedding answers")))
    results["embedding_cosine"] = [float(vectors[a] @ vectors[gold[t]])
                                   for a, t in zip(results["answer"].fillna(""), results["ticket_id"])]

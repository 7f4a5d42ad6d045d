"""The demo: the whole pipeline on a synthetic sample (``casebase demo``; ``make demo``).

    casebase demo --workspace workspace/demo              # then serves it on 127.0.0.1:8000
    casebase demo --tickets 300 --train-steps 0 --eval-tickets 0 --no-serve   # the quick version
"""

from __future__ import annotations

import json

from pydantic import Field
from rich.text import Text

from casebase import progress
from casebase.config import StageConfig, resolve
from casebase.sample.config import SampleConfig
from casebase.render import print_evaluate, print_ingest, print_train, say
from casebase.workspace import Workspace


def step(name: str, what: str) -> Text:
    return Text.assemble((name, "bold"), f": {what}")


class DemoConfig(StageConfig):
    """`casebase demo`'s settings (no manifest of its own: each stage it runs writes one)."""

    tickets: int = Field(SampleConfig.model_fields["tickets"].default, ge=20, description="Sample size.")
    seed: int = Field(SampleConfig.model_fields["seed"].default, description="Random seed of the sample.")
    train_steps: int = Field(8, ge=0, description="Steps of the small hybrid LoRA adapter trained at the end "
                             "(0: skip training).")
    eval_tickets: int = Field(12, ge=0, description="Test tickets in the closing evaluation of retrieval, base+rag "
                              "and hybrid+rag (0: skip).")


def run(ws: Workspace, cfg: DemoConfig | None = None, quiet: bool = False, **overrides) -> None:
    """sample -> ingest -> extract -> split -> index -> train (hybrid, ``train_steps``) -> evaluate; prints a summary."""
    cfg = resolve(DemoConfig, cfg, overrides, "demo")
    tickets, seed, train_steps, eval_tickets = cfg.tickets, cfg.seed, cfg.train_steps, cfg.eval_tickets
    from casebase.extract import run as extract_run
    from casebase.ingest import run as ingest_run
    from casebase.retrieve import build_index, load_index
    from casebase.sample import write_sample
    from casebase.split import run as split_run

    raw = ws.root / "raw"
    progress.log(step("1/7 sample", f"writing {tickets} synthetic tickets to {raw}"))
    s = write_sample(raw, n_tickets=tickets, seed=seed)
    progress.log(step("2/7 ingest", "cleaning and redacting"))
    manifest = ingest_run(ws, raw / "tickets.xlsx", raw / "history.xlsx", mapping="saleslogix")
    if not quiet:
        print_ingest(manifest, ws.root)
    progress.log(step("3/7 extract", "problem and solution per ticket (heuristic)"))
    ex = extract_run(ws)
    progress.log(step("4/7 split", "train / val / test by time"))
    sp = split_run(ws)
    progress.log(step("5/7 index", "MiniLM + BM25 over the train cases"))
    ix = build_index(ws)
    test = [json.loads(line) for line in (ws.split("test")).read_text().splitlines()[:1]]
    hit = load_index(ws).search(test[0]["problem"], k=3) if test else None
    tr = None
    if train_steps:
        from casebase.train import TrainConfig
        from casebase.train import run as train_run

        progress.log(step("6/7 train", f"a small hybrid (RAFT) LoRA adapter on SmolLM2-135M, {train_steps} steps"))
        tr = train_run(ws, TrainConfig(method="hybrid", max_steps=train_steps, eval_every=max(1, train_steps // 2),
                                       save_every=train_steps, val_limit=8), overwrite=True)
    ev = None
    if eval_tickets:
        from casebase.evaluate import run as evaluate_run

        arms = "retrieval,base+rag" + (",hybrid+rag" if tr is not None else "")
        progress.log(step("7/7 evaluate", f"{arms} on {eval_tickets} test tickets"))
        ev = evaluate_run(ws, arms=arms, limit=eval_tickets, name="demo")
    if not quiet:
        c = ex["counts"]
        say(f"extract: {c['cases']} cases, {c['resolved']} resolved, {c['unresolved']} not")
        c = sp["counts"]
        say(f"split: train {c['train']}, val {c['val']}, test {c['test']} "
            f"(near-duplicates of test removed: {sum(c['near_duplicates_removed'].values())})")
        say(f"index: {ix['counts'].get('cases', ix['counts'])} cases in {ws.root / 'index'}")
        if hit is not None:
            say(f"search, first test ticket: {test[0]['problem'][:100]!r}")
            for r in hit.results:
                say(f"  {r['score']:.3f} {r['case_id']}: {r['problem'][:90]}")
        if tr is not None:
            print_train(tr)
        if ev is not None:
            print_evaluate(ev)
        say(("demo done", "green"), f": {s['tickets']} tickets in {ws.root}")

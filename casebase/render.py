"""How the CLI prints each stage's result (rich), kept apart from the commands themselves.

User data (paths, column names, ids, ticket text) can hold square brackets, so nothing here is
printed as rich markup: every line and table cell is a ``Text`` (``say`` and ``cells``).
"""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

out = Console()


def say(*parts) -> None:
    """Print one line of plain text; a part may be a (text, style) pair, as in ``Text.assemble``."""
    out.print(Text.assemble(*parts))


def cells(*values) -> list[Text]:
    return [Text(str(v)) for v in values]


def print_error(message: str) -> None:
    """A user error on stderr: the message quotes user input (ids, paths), so it is never read as markup."""
    Console(stderr=True).print(Text.assemble(("error:", "bold red"), " ", message), highlight=False, soft_wrap=True)


def print_ingest(m: dict, workspace: Path) -> None:
    c = m["counts"]
    mapping = m.get("mapping") or m["config"]["mapping"]  # the resolved mapping (older manifests: in config)
    name = mapping["name"] if isinstance(mapping, dict) else mapping
    table = Table(title=Text(f"ingest ({name} mapping)"), show_header=True)
    for col in ("rows", "in", "out", "quarantined"):
        table.add_column(col, justify="right" if col != "rows" else "left")
    for key, label in (("tickets", "tickets"), ("messages", "history messages"),
                       ("messages_from_ticket_body", "messages from ticket body"),
                       ("messages_from_ticket_resolution", "messages from ticket resolution")):
        if c.get(key, {}).get("in"):  # (older manifests have no resolution row)
            table.add_row(*cells(label, c[key]["in"], c[key]["out"], c[key]["quarantined"]))
    out.print(table)
    red = ", ".join(f"{k} {v}" for k, v in sorted(c["redacted"].items())) or "nothing"
    say(f"redacted: {red}")
    cut = {"bodies": c.get("truncated_bodies", 0), **c.get("truncated_fields", {})}
    if any(cut.values()):
        say(f"truncated (longer than --max-body-chars {m['config']['max_body_chars']}): "
            + ", ".join(f"{k} {n}" for k, n in cut.items() if n))
    for w in m["warnings"]:
        say(("warning:", "yellow"), f" {w}")
    r = c.get("reingest") or {}
    if r.get("mode") == "merge":  # a later export merged into the workspace (docs/architecture.md, 'Re-ingest')
        say(f"merged into the workspace: {r['new']} new, {r['changed']} changed, {r['unchanged']} unchanged, "
            f"{r['older']} older than the workspace's copy (kept), {r['kept']} not in this export (kept); "
            f"it now holds {r['tickets_total']} tickets, {r['messages_total']} messages (--replace: this export only)")
    elif r.get("mode") == "replace":
        say(f"replaced the workspace's tickets (--replace): {r['replaced']} written again, {r['new']} new, "
            f"{r['dropped']} that this export lacks dropped")
    say(f"wrote {workspace}/tickets.parquet, messages.parquet ({c['messages_total_out']} messages), "
        f"quarantine.csv; manifest {workspace}/ingest.json ({m['timings_s']['messages_per_s']:.0f} messages/s)")


def print_sample(r: dict) -> None:
    out.print(Text(f"wrote {r['tickets']} tickets and {r['history']} history rows: {', '.join(map(str, r['files']))}"))


def print_extract(m: dict) -> None:
    c = m["counts"]
    speed = f"; {m['timings_s']['tickets_per_minute']:.0f} tickets/min" if c["worked"] else ""
    out.print(Text(f"{c['cases']} cases ({c['resolved']} resolved, {c['unresolved']} not; {c['from_cache']} from cache, "
                   f"{c['llm_fallbacks']} LLM fallbacks) -> {m['outputs'][0]}{speed}"))


def print_split(m: dict) -> None:
    c = m["counts"]
    out.print(Text(f"train {c['train']}, val {c['val']}, test {c['test']}; near-duplicates of test removed: "
                   f"{c['near_duplicates_removed']}; unresolved left out: {c['unresolved_excluded']}"))


def print_merge(r: dict) -> None:
    out.print(Text(f"merged {r['adapter']} into {r['base']}: {r['merged']} ({r['parameters'] / 1e6:.0f}M parameters)"))


def print_search_lines(items: list[dict], hits: list) -> None:
    """``casebase search --queries``: one JSON line per query."""
    for q, hit in zip(items, hits):
        print(json.dumps({"id": q["id"], "results": hit.results, "abstained": hit.abstained,
                          "best_similarity": hit.best_similarity, "triage": hit.triage}, ensure_ascii=False, default=str))


def print_forget(s: dict) -> None:
    """What `casebase forget` removed (or would remove): ticket ids and file names are user data, never markup."""
    verb = "would erase" if s["dry_run"] else "erased"
    ids = s["ticket_ids"]
    found = ", ".join(f"{n} by --{k}" for k, n in s["selectors"].items() if n)
    out.print(Text(f"{verb} {s['tickets']} ticket(s) ({found}): " + ", ".join(ids[:20])
                   + (f" and {len(ids) - 20} more" if len(ids) > 20 else "")))
    table = Table(title=Text(f"rows {'to remove' if s['dry_run'] else 'removed'} in {s['workspace']}"))
    for col in ("file", "before", "removed", "after"):
        table.add_column(col, justify="left" if col == "file" else "right")
    for name, r in s["files"].items():
        table.add_row(Text(name), str(r["rows_before"]), str(r["rows_removed"]), str(r["rows_after"]))
    out.print(table)
    if s["untouched_files"]:
        out.print(Text("nothing to remove in: " + ", ".join(s["untouched_files"])))
    for st in s["stale"]:
        out.print(Text(f"{'would mark' if s['dry_run'] else 'marked'} stale: {st['path']} ({st['reason']})"))
    for note in s["notes"]:
        out.print(Text(f"note: {note}"))
    if s["dry_run"]:
        out.print(Text("dry run: nothing was changed; run again without --dry-run to erase"))


def print_index(m: dict) -> None:
    c, a = m["counts"], m["abstain"]
    if m.get("skipped"):
        say(f"index up to date: {c['cases']} cases ({m['config']['model']}); --force rebuilds")
        return
    if "added" in c:
        say(f"added {c['added']} cases: the index now holds {c['cases']} ({m['timings_s']['total']:.1f} s)")
        return
    how = (f"{a['quantile']:.0%} quantile of best-match similarity over {a['val_cases']} val cases"
           if a["method"] == "val-quantile" else a["reason"])
    say(f"indexed {c['cases']} cases ({m['config']['text']}; {m['config']['model']}, dim {c['dimension']}; "
        f"{c['embedded']} embedded, {c['reused_embeddings']} reused) -> {m['outputs']['index']}")
    ann = m["ann"]
    search = ann["kind"]
    if ann["kind"] == "hnsw":
        search = f"hnsw (recall@10 {ann['recall@10']:.3f} at expansion_search {ann['expansion_search']})"
    elif ann.get("note"):
        search = f"exact ({ann['note']})"
    say(f"search: {search}; BM25 vocabulary {c['bm25_vocabulary']}; abstain below cosine "
        f"{a['threshold']:.3f} ({how}); {m['timings_s']['total']:.1f} s")


def print_search(r: dict) -> None:
    if r["abstained"]:
        say(f"no similar past case (best similarity {r['best_similarity']:.2f} is below the calibrated "
            f"threshold {r['threshold']:.2f})")
        return
    table = Table(title=Text(f"similar past cases ({r['mode']})"), show_lines=True)
    for col in ("#", "case", "similarity", "category", "urgency", "problem", "solution"):
        table.add_column(col, overflow="fold", justify="right" if col == "#" else "left")
    for hit in r["results"]:
        table.add_row(*cells(hit["rank"], hit["case_id"], _similar(hit), hit["category"] or "",
                             hit["urgency"] or "", _short(hit["problem"], 100), _short(hit["solution"], 160)))
    out.print(table)
    tri = r["triage"]
    say("triage: " + "; ".join(f"{f} {tri[f]['value']} ({tri[f]['confidence']:.0%})"
                               for f in ("category", "urgency") if tri[f]["value"] is not None))


def _short(text: str | None, n: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= n else text[: n - 1] + "…"


def print_train(m: dict) -> None:
    loss, c, t = m["loss"], m["counts"], m["timings_s"]
    verdict = ("below", "green") if loss["val_best"] < loss["val_start"] else ("not below", "red")
    say(f"{m['method']} adapter on {m['base_model']}: {c['steps']} steps, {c['train_examples']} train examples, "
        + (f"{c['extra_examples']} extra (--extra), " if c.get("extra_examples") else "")
        + f"{t['tokens_per_s']:.0f} tokens/s ({t['total']:.0f} s in all)")
    say(f"val loss {loss['val_start']:.4f} -> best {loss['val_best']:.4f} at step {loss['best_step']} (", verdict,
        f" the start){'; stopped early' if m['stopped_early'] else ''}")
    say(f"-> {m['outputs']['adapter']} (curves: {m['outputs']['plot']})")


def print_evaluate(s: dict) -> None:
    table = Table(title=Text(f"evaluation {s['run']}: {s['tickets']} test tickets (95% bootstrap intervals)"))
    for col in ("arm", "ROUGE-L", "token F1", "chrF", "cosine", "parsed", "category acc."):
        table.add_column(col, justify="left" if col == "arm" else "right")
    cat = s["triage"].get("category", {})
    for arm, a in s["arms_summary"].items():
        fmt = lambda m, d=3: f"{a[m]['mean']:.{d}f} [{a[m]['low']:.{d}f}, {a[m]['high']:.{d}f}]"  # noqa: E731
        table.add_row(*cells(arm + (" *" if arm == s["best_arm"] else ""), fmt("rouge_l"), fmt("token_f1"),
                             fmt("chrf", 1), fmt("embedding_cosine"), f"{a['parse_rate']:.0%}",
                             f"{cat[arm]['accuracy']['mean']:.3f}" if arm in cat else "-"))
    out.print(table)
    say(f"highest mean {s['primary_metric']}: {s['best_arm']} (*); recommended: {s['recommended']} "
        f"({s['recommended_reason']}); report: {s['outputs']['report']}")
    if rel := s.get("release"):
        from casebase.releases import describe

        how = (f"serve it with `casebase serve --release {rel['name']}` (a trial is never picked as latest)"
               if rel["status"] == "trial" else "served by `casebase serve` (--release latest)")
        say(describe(rel) + f"; {how}")


def print_releases(r: dict) -> None:
    if not r["releases"]:
        say("no releases yet: `casebase evaluate` makes one (until then `casebase serve` answers with retrieval only)")
        return
    table = Table(title=Text("releases (newest first; latest = newest that is not a trial)"))
    for col in ("name", "status", "arm", "metric [95% CI]", "tickets", "created", "check"):
        table.add_column(col)
    for rel in r["releases"]:
        m = rel.get("metric") or {}
        metric = f"{m['name']} {m['mean']:.3f} [{m['low']:.3f}, {m['high']:.3f}]" if m else "-"
        status = (rel.get("status") or "unreadable") + (" (latest)" if rel.get("latest") else "")
        check = "ok" if not rel["problems"] else "; ".join(rel["problems"])
        table.add_row(*cells(rel.get("name", "?"), status, rel.get("arm", "-"), metric, str(rel.get("tickets", "-")),
                             (rel.get("created_at") or "")[:19], check))
    out.print(table)


def print_suggestion(a: dict) -> None:
    if a["abstained"]:
        say(("no similar past case", "yellow"),
            f" (best similarity {a['best_similarity']:.3f} < {a['threshold']:.3f}): no draft")
    else:
        say(("draft", "bold"), f" ({a['arm']}, {a['model']}):\n{a['solution']}")
    for f in ("category", "urgency"):
        conf = a[f].get("confidence")
        say(f"{f}: {a[f]['value']}" + (f" (confidence {conf:.2f})" if conf is not None else ""))
    for c in a["cited_cases"]:
        say(f"  {_similar(c)} {c['case_id']}: {_short(c['problem'], 90)}")


def _similar(hit: dict) -> str:
    """"close 112%": the similarity label and the dense cosine's percentage of the calibrated abstain threshold, as
    the page shows it; the RRF fusion score (it orders results, and means nothing to a person) only without one."""
    sim = hit.get("similarity") or {}
    if sim.get("label") is None:
        return f"score {hit['score']:.3f}"
    return f"{sim['label']} {sim['percent_of_threshold']}%"

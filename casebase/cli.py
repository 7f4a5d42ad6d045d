"""The ``casebase`` command line: one thin command per pipeline stage.

Each command parses its flags, calls the stage's ``run`` function and prints a summary.
Errors a user can fix print one message and exit with code 2.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from casebase import __version__, progress
from casebase.errors import CasebaseError
from casebase.workspace import Workspace

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

app = typer.Typer(
    help="casebase: turn a helpdesk export into a case base and help agents with new tickets.\n\n"
    "Pipeline: sample -> ingest -> (extract -> split -> index -> train -> evaluate -> serve).\n"
    "Run 'casebase demo' for the whole thing on a bundled synthetic sample.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
    add_completion=False,
)
out = Console()

WorkspaceOpt = Annotated[Path, typer.Option(
    "--workspace", "-w", envvar="CASEBASE_WORKSPACE", help="Workspace directory (env CASEBASE_WORKSPACE).",
    show_default=True)]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or summaries.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]


def version_callback(value: bool) -> None:
    if value:
        print(f"casebase {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[Optional[bool], typer.Option("--version", callback=version_callback, is_eager=True,
                                                    help="Show the version and exit.")] = None,
) -> None:
    pass


def setup(quiet: bool, as_json: bool) -> None:
    progress.set_enabled(not (quiet or as_json))


def fail(err: CasebaseError) -> None:
    Console(stderr=True).print(f"[bold red]error:[/] {err}", highlight=False, soft_wrap=True)
    raise typer.Exit(err.exit_code)


def emit(result: dict, as_json: bool, quiet: bool, render) -> None:
    if as_json:
        print(json.dumps(result, indent=2, default=str))
    elif not quiet:
        render(result)


@app.command()
def sample(
    out_dir: Annotated[Path, typer.Option("--out", help="Directory to write the export into.")] = Path("sample"),
    tickets: Annotated[int, typer.Option("--tickets", min=1, help="Number of tickets.")] = 1500,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same data).")] = 0,
    fmt: Annotated[str, typer.Option("--format", help="xlsx or csv.")] = "xlsx",
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Write a synthetic ERP helpdesk export (SalesLogix schema: tickets + history).

    Example: `casebase sample --out sample --tickets 300`
    """
    from casebase.sample import write_sample

    setup(quiet, as_json)
    if fmt not in ("xlsx", "csv"):
        fail(CasebaseError(f"--format {fmt!r}: use xlsx or csv."))
    result = write_sample(out_dir, n_tickets=tickets, seed=seed, fmt=fmt)
    emit(result, as_json, quiet, lambda r: out.print(
        f"wrote {r['tickets']} tickets and {r['history']} history rows: {', '.join(r['files'])}"))


@app.command()
def ingest(
    tickets: Annotated[Path, typer.Option("--tickets", help="Ticket table (csv, tsv, xlsx, json, jsonl, parquet).")],
    history: Annotated[Optional[Path], typer.Option("--history", help="Message history table, one row per message.")] = None,
    mapping: Annotated[str, typer.Option(
        help="Column mapping: auto, canonical, saleslogix, or a TOML file (docs/mapping.md).")] = "auto",
    max_body_chars: Annotated[int, typer.Option(help="Longer message bodies are truncated (counted in the manifest).")] = 50_000,
    workspace: WorkspaceOpt = Path("workspace"),
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Read a raw export, clean and redact it: writes tickets.parquet, messages.parquet, quarantine.csv.

    Example: `casebase ingest --tickets sample/tickets.xlsx --history sample/history.xlsx -w ws`
    """
    from casebase.ingest import run

    setup(quiet, as_json)
    try:
        manifest = run(Workspace.at(workspace), tickets, history, mapping=mapping, max_body_chars=max_body_chars)
    except CasebaseError as err:
        fail(err)
    emit(manifest, as_json, quiet, lambda m: print_ingest(m, workspace))


def print_ingest(m: dict, workspace: Path) -> None:
    c = m["counts"]
    table = Table(title=f"ingest ({m['config']['mapping']['name']} mapping)", show_header=True)
    for col in ("rows", "in", "out", "quarantined"):
        table.add_column(col, justify="right" if col != "rows" else "left")
    for key, label in (("tickets", "tickets"), ("messages", "history messages"),
                       ("messages_from_ticket_body", "messages from ticket body")):
        if c[key]["in"]:
            table.add_row(label, str(c[key]["in"]), str(c[key]["out"]), str(c[key]["quarantined"]))
    out.print(table)
    red = ", ".join(f"{k} {v}" for k, v in sorted(c["redacted"].items())) or "nothing"
    out.print(f"redacted: {red}")
    for w in m["warnings"]:
        out.print(f"[yellow]warning:[/] {w}")
    out.print(f"wrote {workspace}/tickets.parquet, messages.parquet ({c['messages_total_out']} messages), "
              f"quarantine.csv; manifest {workspace}/ingest.json "
              f"({m['timings_s']['messages_per_s']:.0f} messages/s)")


@app.command()
def extract(
    method: Annotated[str, typer.Option(help="heuristic (no LLM, learned scorer) or llm.")] = "heuristic",
    llm: Annotated[Optional[str], typer.Option(
        help="LLM spec for --method llm: local, local:PATH, openai:BASE_URL#MODEL, fake.")] = None,
    limit: Annotated[Optional[int], typer.Option(
        min=1, help="Only the first N tickets by date (written to cases-<method>-limitN.parquet).")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Tickets per LLM batch.")] = 8,
    workspace: WorkspaceOpt = Path("workspace"),
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """A clean problem, solution and resolved flag for every ticket: writes cases.parquet.

    Cached per ticket: a killed run resumes where it stopped.

    Example: `casebase extract --workspace ws --method llm --llm local --limit 20`
    """
    from casebase.extract import run

    setup(quiet, as_json)
    try:
        manifest = run(Workspace.at(workspace), method=method, llm=llm, limit=limit, batch_size=batch_size)
    except CasebaseError as err:
        fail(err)
    emit(manifest, as_json, quiet, lambda m: out.print(
        f"{m['counts']['cases']} cases ({m['counts']['resolved']} resolved, {m['counts']['unresolved']} not; "
        f"{m['counts']['from_cache']} from cache, {m['counts']['llm_fallbacks']} LLM fallbacks) -> "
        f"{m['outputs'][0]}; {m['timings_s']['tickets_per_minute']:.0f} tickets/min"))


@app.command()
def split(
    test_share: Annotated[float, typer.Option(help="Newest share of resolved cases for test.")] = 0.15,
    val_share: Annotated[float, typer.Option(help="Next newest share for validation.")] = 0.10,
    split_file: Annotated[Optional[Path], typer.Option(
        help="CSV of ticket_id,split to honour an external split (val carved from train if absent).")] = None,
    dedup_threshold: Annotated[float, typer.Option(
        help="Trigram Jaccard at which a train/val case counts as a near-duplicate of a test case.")] = 0.6,
    workspace: WorkspaceOpt = Path("workspace"),
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Split resolved cases into train/val/test by time, without near-duplicate leakage.

    Example: `casebase split --workspace ws --split-file solutions.csv`
    """
    from casebase.split import run

    setup(quiet, as_json)
    try:
        manifest = run(Workspace.at(workspace), test_share=test_share, val_share=val_share,
                       split_file=split_file, dedup_threshold=dedup_threshold)
    except CasebaseError as err:
        fail(err)
    emit(manifest, as_json, quiet, lambda m: out.print(
        f"train {m['counts']['train']}, val {m['counts']['val']}, test {m['counts']['test']}; near-duplicates of "
        f"test removed: {m['counts']['near_duplicates_removed']}; unresolved left out: "
        f"{m['counts']['unresolved_excluded']}"))


@app.command()
def demo(
    workspace: WorkspaceOpt = Path("workspace/demo"),
    tickets: Annotated[int, typer.Option("--tickets", min=20, help="Sample size.")] = 1500,
    seed: Annotated[int, typer.Option(help="Random seed of the sample.")] = 0,
    quiet: QuietOpt = False,
) -> None:
    """Run the pipeline on a synthetic sample: sample, ingest, extract, split; print a summary.

    Example: `casebase demo --workspace workspace/demo`
    """
    from casebase.extract import run as extract_run
    from casebase.ingest import run as ingest_run
    from casebase.sample import write_sample
    from casebase.split import run as split_run

    setup(quiet, False)
    ws = Workspace.at(workspace)
    raw = ws.root / "raw"
    try:
        progress.log(f"[bold]1/4 sample[/]: writing {tickets} synthetic tickets to {raw}")
        s = write_sample(raw, n_tickets=tickets, seed=seed)
        progress.log("[bold]2/4 ingest[/]: cleaning and redacting")
        manifest = ingest_run(ws, raw / "tickets.xlsx", raw / "history.xlsx", mapping="saleslogix")
        if not quiet:
            print_ingest(manifest, ws.root)
        progress.log("[bold]3/4 extract[/]: problem and solution per ticket (heuristic)")
        ex = extract_run(ws)
        progress.log("[bold]4/4 split[/]: train / val / test by time")
        sp = split_run(ws)
    except CasebaseError as err:
        fail(err)
    if not quiet:
        c = ex["counts"]
        out.print(f"extract: {c['cases']} cases, {c['resolved']} resolved, {c['unresolved']} not")
        c = sp["counts"]
        out.print(f"split: train {c['train']}, val {c['val']}, test {c['test']} "
                  f"(near-duplicates of test removed: {sum(c['near_duplicates_removed'].values())})")
        out.print(f"[green]demo done[/]: {s['tickets']} tickets in {ws.root}")


def run_cli() -> None:  # pragma: no cover - console entry point alias
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())

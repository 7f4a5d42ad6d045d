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

from casebase import __version__, progress
from casebase.errors import CasebaseError
from casebase.render import (out, print_error, print_evaluate, print_extract, print_forget, print_index, print_ingest, print_merge,
                             print_sample, print_search, print_search_lines, print_split, print_train)
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

WorkspaceOpt = Annotated[Path, typer.Option(
    "--workspace", "-w", envvar="CASEBASE_WORKSPACE", help="Workspace directory (env CASEBASE_WORKSPACE).",
    show_default=True)]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or summaries.")]
LanguagesOpt = Annotated[Optional[str], typer.Option(
    help="Languages of the text, comma-separated (en,de,fr,nl,es,it) [default: guessed from the data].")]
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


def fail(err: Exception) -> None:
    """One line on stderr and exit code 2; an OSError (unreadable file, full disk) names its path."""
    if isinstance(err, OSError):
        where = f"{err.filename}: " if err.filename else ""
        err = CasebaseError(f"{where}{err.strerror or err}. Check the path, its permissions and the free disk space.")
    print_error(str(err))
    raise typer.Exit(err.exit_code)


USER_ERRORS = (CasebaseError, OSError)


def check_text_file(path: Path | None, flag: str) -> None:
    """A file the user names on the command line exists and is UTF-8 text (else one error naming it)."""
    if path is None:
        return
    if not path.is_file():
        raise CasebaseError(f"{flag} {path}: {'a directory' if path.is_dir() else 'no such file'}; "
                            f"give the path of a file (relative to {Path.cwd()}).")
    try:
        path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise CasebaseError(f"{flag} {path}: not UTF-8 text (bad byte at offset {err.start}). "
                            "Save it as UTF-8.") from None


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
    try:
        if fmt not in ("xlsx", "csv"):
            raise CasebaseError(f"--format {fmt!r}: use xlsx or csv.")
        if out_dir.exists() and not out_dir.is_dir():
            raise CasebaseError(f"--out {out_dir} is a file; give a directory.")
        result = write_sample(out_dir, n_tickets=tickets, seed=seed, fmt=fmt)
    except USER_ERRORS as err:
        fail(err)
    emit(result, as_json, quiet, print_sample)


@app.command()
def ingest(
    tickets: Annotated[Path, typer.Option("--tickets", help="Ticket table (csv, tsv, xlsx, json, jsonl, parquet).")],
    history: Annotated[Optional[Path], typer.Option("--history", help="Message history table, one row per message.")] = None,
    mapping: Annotated[str, typer.Option(
        help="Column mapping: auto, canonical, saleslogix, or a TOML file (docs/mapping.md).")] = "auto",
    max_body_chars: Annotated[int, typer.Option(
        help="Longer texts (message bodies and every ticket field) are truncated (counted in the manifest).")] = 50_000,
    json_key: Annotated[Optional[str], typer.Option(
        help="For a --tickets JSON object holding several arrays: the name of the array of tickets.")] = None,
    history_json_key: Annotated[Optional[str], typer.Option(
        help="The same for a --history JSON object (e.g. the same file's 'comments').")] = None,
    languages: LanguagesOpt = None,
    ner: Annotated[Optional[bool], typer.Option(
        "--ner/--no-ner", help="Named-entity pass on the candidate names the other layers leave [default: on].")] = None,
    workspace: WorkspaceOpt = Path("workspace"),
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Read a raw export, clean and redact it: writes tickets.parquet, messages.parquet, quarantine.csv.

    Example: `casebase ingest --tickets sample/tickets.xlsx --history sample/history.xlsx -w ws --languages en,de`
    """
    from casebase.ingest import run

    setup(quiet, as_json)
    try:
        from casebase.ingest.redact import RedactConfig

        config = RedactConfig.from_flags(languages, ner=ner)
        manifest = run(Workspace.at(workspace), tickets, history, mapping=mapping, max_body_chars=max_body_chars,
                       redact=config, json_key=json_key, history_json_key=history_json_key)
    except USER_ERRORS as err:
        fail(err)
    emit(manifest, as_json, quiet, lambda m: print_ingest(m, workspace))


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
    except USER_ERRORS as err:
        fail(err)
    emit(manifest, as_json, quiet, print_extract)


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
        check_text_file(split_file, "--split-file")
        manifest = run(Workspace.at(workspace), test_share=test_share, val_share=val_share,
                       split_file=split_file, dedup_threshold=dedup_threshold)
    except USER_ERRORS as err:
        fail(err)
    emit(manifest, as_json, quiet, print_split)


@app.command()
def index(
    text: Annotated[str, typer.Option(help="Indexed text: problem, or problem+solution.")] = "problem",
    model: Annotated[Optional[str], typer.Option(
        help="sentence-transformers model (directory or name); default: bundled all-MiniLM-L6-v2; fake for tests.")] = None,
    add: Annotated[Optional[Path], typer.Option(
        "--add", help="JSONL of new cases (train.jsonl fields) to append; old cases are not re-embedded.")] = None,
    ann_threshold: Annotated[int, typer.Option(
        min=0, help="Above this many cases, build an HNSW graph (needs usearch), else exact search.")] = 50_000,
    ann: Annotated[str, typer.Option(
        help="Above the threshold: auto keeps the graph only if, calibrated on the cases, it reaches --ann-recall "
             "faster than exact search; always keeps it; never stays exact.")] = "auto",
    ann_recall: Annotated[float, typer.Option(
        help="Target recall@10 of the HNSW graph against exact search; sets its expansion_search.")] = 0.95,
    abstain_quantile: Annotated[float, typer.Option(
        help="Abstain threshold = this quantile of val cases' best-match similarity.")] = 0.10,
    force: Annotated[bool, typer.Option("--force", help="Rebuild even when the index is up to date.")] = False,
    workspace: WorkspaceOpt = Path("workspace"),
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Index the train cases for search: embeddings, BM25 and metadata in index/.

    Calibrates the 'no similar past case' threshold on val.jsonl when there is one.

    Above --ann-threshold cases, an HNSW graph is built and its expansion_search calibrated on the cases
    themselves to reach --ann-recall; the manifest records the recall and latency it measured.

    Example: `casebase index --workspace ws --text problem+solution`
    """
    from casebase.retrieve import add_to_index, build_index

    setup(quiet, as_json)
    try:
        ws = Workspace.at(workspace)
        check_text_file(add, "--add")
        if add is not None and (model is not None or text != "problem"):
            raise CasebaseError("--add keeps the model and --text of the existing index: leave out --model and "
                                "--text, or rebuild with `casebase index --model ... --text ...` first.")
        if add is not None:
            manifest = add_to_index(ws, add)
        else:
            manifest = build_index(ws, text=text, model=model, ann_threshold=ann_threshold, ann=ann,
                                   ann_recall=ann_recall, abstain_quantile=abstain_quantile, force=force)
    except USER_ERRORS as err:
        fail(err)
    emit(manifest, as_json, quiet, print_index)


@app.command()
def search(
    text: Annotated[Optional[str], typer.Argument(help="The new ticket's text.")] = None,
    k: Annotated[int, typer.Option("--k", "-k", min=1, help="Number of cases to return.")] = 5,
    mode: Annotated[str, typer.Option(help="hybrid (dense + BM25, RRF), dense or bm25.")] = "hybrid",
    queries: Annotated[Optional[Path], typer.Option(
        help='JSONL of {"id", "text"} (optional "exclude_id"): one JSON line out per query.')] = None,
    exclude_id: Annotated[Optional[str], typer.Option(
        help="Leave out this case and its near-duplicates (e.g. the ticket itself).")] = None,
    weights: Annotated[str, typer.Option(help="Hybrid weights DENSE,BM25 for reciprocal rank fusion.")] = "1,1",
    workspace: WorkspaceOpt = Path("workspace"),
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Find the most similar past cases for a new ticket, with a suggested category and urgency.

    Example: `casebase search "SQL0911N deadlock when saving ME21N" --k 5 --workspace ws`
    """
    from casebase.retrieve import load_index, parse_weights, read_queries

    setup(quiet, as_json or queries is not None)
    try:
        w = parse_weights(weights)
        if (text is None) == (queries is None):
            raise CasebaseError("give either a TEXT to search for or --queries FILE.jsonl (not both).")
        if text is not None and not text.strip():
            raise CasebaseError("the TEXT to search for is empty: give the new ticket's text.")
        check_text_file(queries, "--queries")
        items = read_queries(queries) if queries else [{"id": None, "text": text, "exclude_id": exclude_id}]
        idx = load_index(Workspace.at(workspace, create=False))
        hits = idx.search_many([q["text"] for q in items], k=k, mode=mode, weights=w,
                               exclude=[q.get("exclude_id") or exclude_id for q in items])
    except USER_ERRORS as err:
        fail(err)
    if queries:
        return print_search_lines(items, hits)
    emit({**hits[0].to_dict(), "mode": mode}, as_json, quiet, print_search)


@app.command()
def train(
    method: Annotated[Optional[str], typer.Option(
        help="standard (problem -> answer) or hybrid (RAFT: problem + retrieved cases -> answer). [default: hybrid]")] = None,
    base: Annotated[Optional[str], typer.Option(
        help="Base model: local (bundled SmolLM2-135M-Instruct) or local:PATH (HF directory or .gguf). [default: local]")] = None,
    config: Annotated[Optional[Path], typer.Option(
        "--config", help="TOML, YAML or JSON file with any training setting (docs/train.md lists them).")] = None,
    name: Annotated[Optional[str], typer.Option(help="Output name under models/ [default: the method].")] = None,
    max_steps: Annotated[Optional[int], typer.Option(min=1, help="Optimizer steps [default: one epoch].")] = None,
    batch_size: Annotated[Optional[int], typer.Option(min=1, help="Examples per micro-batch [default: 2].")] = None,
    lr: Annotated[Optional[float], typer.Option(help="Peak learning rate [default: 2e-4].")] = None,
    max_length: Annotated[Optional[int], typer.Option(
        min=64, help="Tokens per example; retrieved context is cut first [default: 640].")] = None,
    k: Annotated[Optional[int], typer.Option(min=0, help="Retrieved cases per hybrid prompt [default: 3].")] = None,
    eval_every: Annotated[Optional[int], typer.Option(min=1, help="Steps between val-loss evaluations [default: 10].")] = None,
    save_every: Annotated[Optional[int], typer.Option(min=1, help="Steps between checkpoints [default: 10].")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Random seed [default: 0].")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the newest checkpoint of this run.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Delete an earlier run of this name first.")] = False,
    workspace: WorkspaceOpt = Path("workspace"),
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Fine-tune a LoRA adapter on train.jsonl (validated on val.jsonl): writes models/<name>/.

    Runs on CPU or one GPU as is; on several GPUs start it with `accelerate launch -m casebase train ...`.

    Example: `casebase train --workspace ws --method hybrid --max-steps 30`
    """
    from casebase.train import load_config, run

    setup(quiet, as_json)
    try:
        cfg = load_config(config, {"method": method, "base": base, "name": name, "max_steps": max_steps,
                                   "batch_size": batch_size, "lr": lr, "max_length": max_length, "k": k,
                                   "eval_every": eval_every, "save_every": save_every, "seed": seed})
        manifest = run(Workspace.at(workspace), cfg, resume=resume, overwrite=overwrite)
    except USER_ERRORS as err:
        fail(err)
    if manifest:
        emit(manifest, as_json, quiet, print_train)


@app.command()
def merge(
    model_dir: Annotated[Path, typer.Argument(help="A directory written by `casebase train` (models/<name>).")],
    out_dir: Annotated[Optional[Path], typer.Option("--out", help="Where to write [default: MODEL_DIR/merged].")] = None,
    base: Annotated[Optional[str], typer.Option(help="Base model spec [default: the one in the adapter's manifest].")] = None,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Merge a LoRA adapter into its base model: a plain checkpoint for transformers or vLLM.

    Example: `casebase merge workspace/models/hybrid && vllm serve workspace/models/hybrid/merged`
    """
    from casebase.train import merge as merge_run

    setup(quiet, as_json)
    try:
        result = merge_run(model_dir, out_dir, base)
    except USER_ERRORS as err:
        fail(err)
    emit(result, as_json, quiet, print_merge)


@app.command()
def evaluate(
    arms: Annotated[Optional[str], typer.Option(
        help="Comma list of retrieval, base, base+rag, standard, standard+rag, hybrid+rag "
             "[default: every arm whose adapter exists].")] = None,
    limit: Annotated[Optional[int], typer.Option(min=1, help="Only the first N test tickets.")] = None,
    llm: Annotated[Optional[str], typer.Option(
        help="Base model for the LLM arms: local, local:PATH, openai:BASE_URL#MODEL (adapter arms then ask the "
             "models 'standard' and 'hybrid'), fake [default: the adapters' base].")] = None,
    gold_file: Annotated[Optional[Path], typer.Option(
        help="CSV of ticket_id,solution_message_id: the accepted post is the gold (forum-support's solutions.csv).")] = None,
    name: Annotated[Optional[str], typer.Option(help="Run name under eval/ [default: the time].")] = None,
    k: Annotated[int, typer.Option(min=1, help="Retrieved cases in +rag prompts.")] = 3,
    max_new_tokens: Annotated[int, typer.Option(min=8, help="Longest reply (tokens).")] = 160,
    batch_size: Annotated[int, typer.Option(min=1, help="Prompts per generation batch.")] = 8,
    workspace: WorkspaceOpt = Path("workspace"),
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Score every arm on held-out test tickets against their real resolutions: writes eval/<run>/.

    results.csv (ticket x arm), summary.json (95% bootstrap intervals, paired differences, triage)
    and a self-contained report.html. Replies are cached: a killed run resumes with the same --name.

    Example: `casebase evaluate --workspace ws --limit 60 --gold-file solutions.csv`
    """
    from casebase.evaluate import run

    setup(quiet, as_json)
    try:
        check_text_file(gold_file, "--gold-file")
        summary = run(Workspace.at(workspace), arms=arms, limit=limit, llm=llm, name=name, gold_file=gold_file,
                      k=k, max_new_tokens=max_new_tokens, batch_size=batch_size)
    except USER_ERRORS as err:
        fail(err)
    emit(summary, as_json, quiet, print_evaluate)


@app.command()
def forget(
    ticket: Annotated[Optional[list[str]], typer.Option(help="A ticket id to erase (repeatable).")] = None,
    person: Annotated[Optional[list[str]], typer.Option(help="A person's name: every ticket they wrote in (matched by "
                                                        "their pseudonym) or that still names them (repeatable).")] = None,
    text: Annotated[Optional[list[str]], typer.Option(help="Every ticket whose text contains this, any case (repeatable).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be erased; change nothing.")] = False,
    workspace: WorkspaceOpt = Path("workspace"), quiet: QuietOpt = False, as_json: JsonOpt = False,
) -> None:
    """Erase tickets and their messages from every file of the workspace (GDPR erasure); marks what was built on them stale.

    Example: `casebase forget --workspace ws --person "Sarah Smith" --dry-run`
    """
    from casebase.forget import run

    setup(quiet, as_json)
    try:
        summary = run(Workspace.at(workspace, create=False), tickets=ticket, persons=person, texts=text, dry_run=dry_run)
    except USER_ERRORS as err:
        fail(err)
    emit(summary, as_json, quiet, print_forget)


@app.command()
def demo(
    workspace: WorkspaceOpt = Path("workspace/demo"),
    tickets: Annotated[int, typer.Option("--tickets", min=20, help="Sample size.")] = 1500,
    seed: Annotated[int, typer.Option(help="Random seed of the sample.")] = 0,
    train_steps: Annotated[int, typer.Option(
        min=0, help="Steps of the small hybrid LoRA adapter trained at the end (0: skip training).")] = 8,
    eval_tickets: Annotated[int, typer.Option(
        min=0, help="Test tickets in the closing evaluation of retrieval, base+rag and hybrid+rag (0: skip).")] = 12,
    serve_after: Annotated[bool, typer.Option(
        "--serve/--no-serve", help="End by serving the demo workspace on 127.0.0.1 (Ctrl+C stops it).")] = True,
    port: Annotated[int, typer.Option(help="Port for --serve.")] = 8000,
    quiet: QuietOpt = False,
) -> None:
    """Run the pipeline on a synthetic sample: sample, ingest, extract, split, index, train, evaluate, serve.

    Example: `casebase demo --workspace workspace/demo`
    """
    from casebase.demo import run

    setup(quiet, False)
    try:
        ws = Workspace.at(workspace)
        run(ws, tickets=tickets, seed=seed, train_steps=train_steps, eval_tickets=eval_tickets, quiet=quiet)
    except USER_ERRORS as err:
        fail(err)
    if serve_after:
        out.print(f"serving the demo on http://127.0.0.1:{port}/ (Ctrl+C stops it; the same on your own export: "
                  f"`casebase serve --workspace WS`)")
        serve(host="127.0.0.1", port=port, arm=None, llm=None, workspace=ws.root)


from casebase.cli_serve import export_feedback, serve, suggest, token  # noqa: E402,F401  (registers the serving commands)

if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())

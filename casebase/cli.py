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
                             print_releases, print_sample, print_search, print_search_lines, print_split, print_train)
from casebase.config import config_option, from_cli
from casebase.config import option as _opt
from casebase.demo import DemoConfig
from casebase.evaluate.config import EvaluateConfig
from casebase.extract.run import ExtractConfig
from casebase.ingest.config import IngestConfig
from casebase.retrieve.config import IndexConfig, SearchConfig
from casebase.sample.config import SampleConfig
from casebase.split import SplitConfig
from casebase.train.config import TrainConfig
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
ConfigOpt = Annotated[Optional[Path], config_option()]


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
    out_dir: Annotated[Optional[Path], _opt(SampleConfig, "out", "--out")] = None,
    tickets: Annotated[Optional[int], _opt(SampleConfig, "tickets", "--tickets", min=1)] = None,
    seed: Annotated[Optional[int], _opt(SampleConfig, "seed")] = None,
    fmt: Annotated[Optional[str], _opt(SampleConfig, "format", "--format")] = None,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Write a synthetic ERP helpdesk export (SalesLogix schema: tickets + history).

    Example: `casebase sample --out sample --tickets 300`
    """
    from casebase.sample import write_sample

    setup(quiet, as_json)
    try:
        cfg = from_cli(SampleConfig, config, {"out": out_dir, "tickets": tickets, "seed": seed, "format": fmt}, "sample")
        if cfg.out.exists() and not cfg.out.is_dir():
            raise CasebaseError(f"--out {cfg.out} is a file; give a directory.")
        result = write_sample(cfg.out, n_tickets=cfg.tickets, seed=cfg.seed, fmt=cfg.format)
    except USER_ERRORS as err:
        fail(err)
    emit(result, as_json, quiet, print_sample)


@app.command()
def ingest(
    tickets: Annotated[Optional[Path], _opt(IngestConfig, "tickets", "--tickets")] = None,
    history: Annotated[Optional[Path], _opt(IngestConfig, "history", "--history")] = None,
    users: Annotated[Optional[Path], _opt(IngestConfig, "users", "--users")] = None,
    mapping: Annotated[Optional[str], _opt(IngestConfig, "mapping")] = None,
    max_body_chars: Annotated[Optional[int], _opt(IngestConfig, "max_body_chars")] = None,
    json_key: Annotated[Optional[str], _opt(IngestConfig, "json_key")] = None,
    history_json_key: Annotated[Optional[str], _opt(IngestConfig, "history_json_key")] = None,
    languages: Annotated[Optional[str], _opt(IngestConfig, "redact.languages")] = None,
    ner: Annotated[Optional[bool], _opt(IngestConfig, "redact.ner", "--ner/--no-ner")] = None,
    replace: Annotated[Optional[bool], _opt(IngestConfig, "replace", "--replace")] = None,
    config: ConfigOpt = None,
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
        redact = {k: v for k, v in (("languages", languages), ("ner", ner)) if v is not None} or None
        cfg = from_cli(IngestConfig, config, {**locals(), "redact": redact}, "ingest")
        manifest = run(Workspace.at(workspace), cfg)
    except USER_ERRORS as err:
        fail(err)
    emit(manifest, as_json, quiet, lambda m: print_ingest(m, workspace))


@app.command()
def extract(
    method: Annotated[Optional[str], _opt(ExtractConfig, "method")] = None,
    llm: Annotated[Optional[str], _opt(ExtractConfig, "llm")] = None,
    limit: Annotated[Optional[int], _opt(ExtractConfig, "limit", min=1)] = None,
    batch_size: Annotated[Optional[int], _opt(ExtractConfig, "batch_size", min=1)] = None,
    min_precision: Annotated[Optional[float], _opt(ExtractConfig, "min_precision")] = None,
    judge: Annotated[Optional[bool], _opt(ExtractConfig, "judge", "--judge")] = None,
    judge_band: Annotated[Optional[float], _opt(ExtractConfig, "judge_band")] = None,
    config: ConfigOpt = None,
    workspace: WorkspaceOpt = Path("workspace"),
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """A clean problem, solution and resolved flag for every ticket: writes cases.parquet.

    Cached per ticket: a killed run resumes where it stopped.

    Example: `casebase extract --workspace ws --method llm --llm local --limit 20`;
    fewer, surer cases: `casebase extract --workspace ws --min-precision 0.9`
    """
    from casebase.extract import run

    setup(quiet, as_json)
    try:
        manifest = run(Workspace.at(workspace), from_cli(ExtractConfig, config, locals(), "extract"))
    except USER_ERRORS as err:
        fail(err)
    emit(manifest, as_json, quiet, print_extract)


@app.command()
def split(
    test_share: Annotated[Optional[float], _opt(SplitConfig, "test_share")] = None,
    val_share: Annotated[Optional[float], _opt(SplitConfig, "val_share")] = None,
    split_file: Annotated[Optional[Path], _opt(SplitConfig, "split_file")] = None,
    dedup_threshold: Annotated[Optional[float], _opt(SplitConfig, "dedup_threshold")] = None,
    config: ConfigOpt = None,
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
        cfg = from_cli(SplitConfig, config, locals(), "split")
        check_text_file(cfg.split_file, "--split-file")
        manifest = run(Workspace.at(workspace), cfg)
    except USER_ERRORS as err:
        fail(err)
    emit(manifest, as_json, quiet, print_split)


@app.command()
def index(
    text: Annotated[Optional[str], _opt(IndexConfig, "text")] = None,
    model: Annotated[Optional[str], _opt(IndexConfig, "model")] = None,
    add: Annotated[Optional[Path], typer.Option(
        "--add", help="JSONL of new cases (train.jsonl fields) to append; old cases are not re-embedded.")] = None,
    ann_threshold: Annotated[Optional[int], _opt(IndexConfig, "ann_threshold", min=0)] = None,
    ann: Annotated[Optional[str], _opt(IndexConfig, "ann")] = None,
    ann_recall: Annotated[Optional[float], _opt(IndexConfig, "ann_recall")] = None,
    abstain_quantile: Annotated[Optional[float], _opt(IndexConfig, "abstain_quantile")] = None,
    force: Annotated[Optional[bool], _opt(IndexConfig, "force", "--force")] = None,
    config: ConfigOpt = None,
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
        if add is not None and (model is not None or text is not None or config is not None):
            raise CasebaseError("--add keeps the settings of the existing index: leave out --model, --text and "
                                "--config, or rebuild with `casebase index --model ... --text ...` first.")
        if add is not None:
            manifest = add_to_index(ws, add)
        else:
            manifest = build_index(ws, from_cli(IndexConfig, config, locals(), "index"))
    except USER_ERRORS as err:
        fail(err)
    emit(manifest, as_json, quiet, print_index)


@app.command()
def search(
    text: Annotated[Optional[str], typer.Argument(help="The new ticket's text.")] = None,
    k: Annotated[Optional[int], _opt(SearchConfig, "k", "--k", "-k", min=1)] = None,
    mode: Annotated[Optional[str], _opt(SearchConfig, "mode")] = None,
    queries: Annotated[Optional[Path], typer.Option(
        help='JSONL of {"id", "text"} (optional "exclude_id"): one JSON line out per query.')] = None,
    exclude_id: Annotated[Optional[str], typer.Option(
        help="Leave out this case and its near-duplicates (e.g. the ticket itself).")] = None,
    weights: Annotated[Optional[str], _opt(SearchConfig, "weights")] = None,
    workspace: WorkspaceOpt = Path("workspace"),
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Find the most similar past cases for a new ticket, with a suggested category and urgency.

    Example: `casebase search "SQL0911N deadlock when saving ME21N" --k 5 --workspace ws`
    """
    from casebase.retrieve import load_index, parse_weights, read_queries

    from casebase.config import load_config

    setup(quiet, as_json or queries is not None)
    try:
        cfg = load_config(SearchConfig, None, {"k": k, "mode": mode, "weights": weights}, "search")
        k, mode, w = cfg.k, cfg.mode, parse_weights(cfg.weights)
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
    from casebase.serve.explain import similarity_in

    found = hits[0].to_dict()
    for r in found["results"]:  # the dense cosine as a person reads it (the fusion score only orders the list)
        r["similarity"] = similarity_in(idx, r.get("dense_score"))
    emit({**found, "mode": mode}, as_json, quiet, print_search)


@app.command()
def train(
    method: Annotated[Optional[str], _opt(TrainConfig, "method")] = None,
    base: Annotated[Optional[str], _opt(TrainConfig, "base")] = None,
    config: Annotated[Optional[Path], typer.Option(
        "--config", help="TOML, YAML or JSON file with any training setting (docs/train.md lists them).")] = None,
    name: Annotated[Optional[str], _opt(TrainConfig, "name")] = None,
    max_steps: Annotated[Optional[int], _opt(TrainConfig, "max_steps", min=1)] = None,
    batch_size: Annotated[Optional[int], _opt(TrainConfig, "batch_size", min=1)] = None,
    lr: Annotated[Optional[float], _opt(TrainConfig, "lr")] = None,
    max_length: Annotated[Optional[int], _opt(TrainConfig, "max_length", min=64)] = None,
    k: Annotated[Optional[int], _opt(TrainConfig, "k", min=0)] = None,
    eval_every: Annotated[Optional[int], _opt(TrainConfig, "eval_every", min=1)] = None,
    save_every: Annotated[Optional[int], _opt(TrainConfig, "save_every", min=1)] = None,
    seed: Annotated[Optional[int], _opt(TrainConfig, "seed")] = None,
    extra: Annotated[Optional[list[Path]], _opt(TrainConfig, "extra", "--extra")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the newest checkpoint of this run.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Delete an earlier run of this name first.")] = False,
    workspace: WorkspaceOpt = Path("workspace"),
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Fine-tune a LoRA adapter on train.jsonl (validated on val.jsonl): writes models/NAME/.

    Runs on CPU or one GPU as is; on several GPUs start it with `accelerate launch -m casebase train ...`.

    Example: `casebase train --workspace ws --method hybrid --max-steps 30`
    """
    from casebase.train import run

    setup(quiet, as_json)
    try:
        cfg = from_cli(TrainConfig, config, locals() | {"extra": extra or None}, "train")
        manifest = run(Workspace.at(workspace), cfg, resume=resume, overwrite=overwrite)
    except USER_ERRORS as err:
        fail(err)
    if manifest:
        emit(manifest, as_json, quiet, print_train)


@app.command()
def merge(
    model_dir: Annotated[Path, typer.Argument(help="A directory written by `casebase train` (models/NAME).")],
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
    arms: Annotated[Optional[str], _opt(EvaluateConfig, "arms")] = None,
    limit: Annotated[Optional[int], _opt(EvaluateConfig, "limit", min=1)] = None,
    llm: Annotated[Optional[str], _opt(EvaluateConfig, "llm")] = None,
    gold_file: Annotated[Optional[Path], _opt(EvaluateConfig, "gold_file")] = None,
    name: Annotated[Optional[str], _opt(EvaluateConfig, "name")] = None,
    k: Annotated[Optional[int], _opt(EvaluateConfig, "k", min=1)] = None,
    max_new_tokens: Annotated[Optional[int], _opt(EvaluateConfig, "max_new_tokens", min=8)] = None,
    batch_size: Annotated[Optional[int], _opt(EvaluateConfig, "batch_size", min=1)] = None,
    config: Annotated[Optional[Path], typer.Option(
        "--config", help="TOML, YAML or JSON file with any of these settings (flags override it).")] = None,
    workspace: WorkspaceOpt = Path("workspace"),
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Score every arm on held-out test tickets against their real resolutions: writes eval/RUN/ and a release.

    results.csv (ticket x arm), summary.json (95% bootstrap intervals, paired differences, triage), a
    self-contained report.html, and releases/RUN/manifest.json: the recommended arm as `casebase serve` serves it
    (a trial when fewer than 30 tickets or the fake model). Replies are cached: a killed run resumes with the same --name.

    Example: `casebase evaluate --workspace ws --limit 60 --gold-file solutions.csv`
    """
    from casebase.config import from_cli
    from casebase.evaluate import run

    setup(quiet, as_json)
    try:
        cfg = from_cli(EvaluateConfig, config, locals(), "evaluate")
        check_text_file(cfg.gold_file, "--gold-file")
        summary = run(Workspace.at(workspace), cfg)
    except USER_ERRORS as err:
        fail(err)
    emit(summary, as_json, quiet, print_evaluate)


@app.command()
def releases(
    workspace: WorkspaceOpt = Path("workspace"),
    as_json: JsonOpt = False,
) -> None:
    """List the releases `casebase evaluate` made, newest first, each checked against the files on disk.

    `latest` (what `casebase serve` serves by default) is the newest that is not a trial.

    Example: `casebase releases --workspace ws`
    """
    from casebase.releases import all_releases, find, mismatches

    try:
        ws = Workspace.at(workspace, create=False)
        found = all_releases(ws)
        latest = find(ws, "latest")
        rows = [r | {"latest": latest is not None and r.get("name") == latest.get("name"),
                     "problems": [r["error"]] if "error" in r else mismatches(ws, r)} for r in found]
    except USER_ERRORS as err:
        fail(err)
    emit({"releases": rows}, as_json, False, print_releases)


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
    tickets: Annotated[Optional[int], _opt(DemoConfig, "tickets", "--tickets", min=20)] = None,
    seed: Annotated[Optional[int], _opt(DemoConfig, "seed")] = None,
    train_steps: Annotated[Optional[int], _opt(DemoConfig, "train_steps", min=0)] = None,
    eval_tickets: Annotated[Optional[int], _opt(DemoConfig, "eval_tickets", min=0)] = None,
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
        cfg = from_cli(DemoConfig, None, locals(), "demo")
        run(ws, cfg, quiet=quiet)
    except USER_ERRORS as err:
        fail(err)
    if serve_after:
        out.print(f"serving the demo on http://127.0.0.1:{port}/ (Ctrl+C stops it; the same on your own export: "
                  f"`casebase serve --workspace WS`)")
        # the demo's own release, by name: 12 tickets make it a trial, which `--release latest` never picks
        serve(release="demo" if cfg.eval_tickets else None, host="127.0.0.1", port=port, workspace=ws.root)


from casebase.cli_serve import export_feedback, serve, suggest, token  # noqa: E402,F401  (registers the serving commands)
from casebase.cli_rerun import rerun_command  # noqa: E402,F401  (registers `casebase rerun`)

if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())

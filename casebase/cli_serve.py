"""The serving commands of the ``casebase`` command line: suggest, serve, token, export-feedback
(registered on ``casebase.cli.app``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from casebase.cli import JsonOpt, LanguagesOpt, QuietOpt, WorkspaceOpt, app, emit, fail, setup
from rich.text import Text

from casebase.config import from_cli, option
from casebase.errors import CasebaseError
from casebase.render import out, print_suggestion
from casebase.serve.config import ServeConfig
from casebase.workspace import Workspace


ConfigOpt = Annotated[Optional[Path], typer.Option(
    "--config", help="TOML, YAML or JSON file with any of these settings (flags override it).")]


@app.command()
def suggest(
    text: Annotated[str, typer.Argument(help="The ticket's message (body).")],
    subject: Annotated[str, typer.Option(help="The ticket's subject.")] = "",
    release: Annotated[Optional[str], option(ServeConfig, "release")] = None,
    arm: Annotated[Optional[str], option(ServeConfig, "arm")] = None,
    llm: Annotated[Optional[str], option(ServeConfig, "llm")] = None,
    k: Annotated[Optional[int], option(ServeConfig, "k", min=1)] = None,
    max_new_tokens: Annotated[Optional[int], option(ServeConfig, "max_new_tokens", min=8)] = None,
    config: ConfigOpt = None,
    workspace: WorkspaceOpt = Path("workspace"),
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """A draft solution, urgency and category for a new ticket, with the past cases it rests on (the release's arm).

    Example: `casebase suggest --workspace ws --subject "ATP" "Error BTE 01000821 when running ATP check"`
    """
    from casebase.serve.engine import Suggester

    setup(quiet, as_json)
    try:
        cfg = from_cli(ServeConfig, config, locals(), "suggest")
        engine = Suggester(Workspace.at(workspace, create=False), arm=cfg.arm, llm=cfg.llm, k=cfg.k,
                           max_new_tokens=cfg.max_new_tokens, release=cfg.release)
        subject, text, redacted = engine.redact_ticket(subject, text)
        answer = engine.suggest(subject, text) | {"redacted": redacted, "release": _release_name(engine)}
        answer.pop("prompt_messages", None)
    except CasebaseError as err:
        fail(err)
    emit(answer, as_json, quiet, print_suggestion)


def _release_name(engine) -> str | None:
    return engine.release["name"] if engine.release else None


@app.command()
def serve(
    release: Annotated[Optional[str], option(ServeConfig, "release")] = None,
    arm: Annotated[Optional[str], option(ServeConfig, "arm")] = None,
    llm: Annotated[Optional[str], option(ServeConfig, "llm")] = None,
    k: Annotated[Optional[int], option(ServeConfig, "k", min=1)] = None,
    max_new_tokens: Annotated[Optional[int], option(ServeConfig, "max_new_tokens", min=8)] = None,
    host: Annotated[Optional[str], option(ServeConfig, "host")] = None,
    port: Annotated[Optional[int], option(ServeConfig, "port", min=1, max=65535)] = None,
    languages: LanguagesOpt = None,
    allowed_host: Annotated[Optional[list[str]], option(ServeConfig, "allowed_host", "--allowed-host")] = None,
    tokens_file: Annotated[Optional[Path], option(ServeConfig, "tokens_file", envvar="CASEBASE_TOKENS_FILE")] = None,
    workers: Annotated[Optional[int], option(ServeConfig, "workers", min=1, max=64)] = None,
    config: ConfigOpt = None,
    workspace: WorkspaceOpt = Path("workspace"),
) -> None:
    """Serve the API (/api/..., OpenAPI at /docs) and the agents' page (/) over a workspace.

    Serves a release exactly as `casebase evaluate` measured it (`--release latest` by default: the newest that is
    not a trial; `casebase releases` lists them), refusing one whose adapter or model changed since; with no release,
    retrieval only. With `CASEBASE_TOKEN` or `--tokens-file` set, every route but the page and /healthz needs
    `Authorization: Bearer TOKEN`. Requests for another Host name are refused (DNS rebinding).

    Example: `CASEBASE_TOKEN=$(python -c 'import secrets; print(secrets.token_urlsafe(32))') casebase serve -w ws --host 0.0.0.0 --allowed-host desk.example.com`

    Example, two server processes on one port (a machine with cores to spare): `casebase serve -w ws --workers 2`
    """
    import uvicorn

    from casebase.serve.app import check_bind, create_app
    from casebase.serve.security import bind_socket
    from casebase.serve.workers import UVICORN

    try:
        cfg = from_cli(ServeConfig, config, locals(), "serve")
        check_bind(cfg.host, os.environ.get("CASEBASE_TOKEN"), cfg.tokens_file)
        sock = bind_socket(cfg.host, cfg.port)  # a busy port is an error now, not after "serving on"
        if cfg.workers > 1:
            return _serve_workers(Workspace.at(workspace, create=False), cfg, languages, sock)
        application = create_app(Workspace.at(workspace, create=False), config=cfg, languages=languages)
        application.state.engine.warm()
    except CasebaseError as err:
        fail(err)
    engine = application.state.engine
    out.print(Text(f"casebase serving {workspace} on http://{cfg.host}:{cfg.port}/ (arm {engine.arm}: {engine.reason}); "
                   f"token {'required' if application.state.tokens.required else 'off (loopback only)'}; "
                   f"hosts {', '.join(application.state.allowed_hosts)}; Ctrl+C stops it"))
    _trial_note(engine.release)
    uvicorn.Server(uvicorn.Config(application, **UVICORN)).run(sockets=[sock])


def _trial_note(release: dict | None) -> None:
    if release and release.get("status") == "trial":
        out.print(Text(f"note: release {release['name']} is a TRIAL ("
                       f"{'; '.join(release.get('trial_because') or [])}): fine for a look, not for a desk; "
                       "evaluate on 30+ tickets with a real model for a release"))


def _serve_workers(ws: Workspace, cfg: ServeConfig, languages: str | None, sock) -> None:
    """`casebase serve --workers N`: what every worker would refuse is checked here, once, then N processes serve
    the bound socket (casebase.serve.workers)."""
    from casebase.serve.security import Tokens, allowed_hosts
    from casebase.serve.workers import preflight, run_workers, threads_per_worker

    try:
        served = preflight(ws, cfg, languages)
        tokens = Tokens.load(os.environ.get("CASEBASE_TOKEN") or None, cfg.tokens_file)  # as every worker loads them
    except CasebaseError as err:
        fail(err)
    out.print(Text(f"casebase serving {ws.root} on http://{cfg.host}:{cfg.port}/ with {cfg.workers} workers "
                   f"({threads_per_worker(cfg.workers)} torch thread(s) each; each answers once it has loaded the "
                   f"index and encoder) (arm {served['arm']}: {served['reason']}); "
                   f"token {'required' if tokens.required else 'off (loopback only)'}; "
                   f"hosts {', '.join(allowed_hosts(cfg.host, cfg.allowed_host))}; Ctrl+C stops it"))
    _trial_note(served["release"])
    try:
        run_workers(ws, cfg, languages, sock)
    except CasebaseError as err:
        fail(err)


@app.command()
def token(
    name: Annotated[str, typer.Argument(help="The agent's name, recorded with their feedback and retained cases.")],
    file: Annotated[Path, typer.Option("--file", envvar="CASEBASE_TOKENS_FILE", help="The tokens file to add to.")]
    = Path("tokens.toml"),
) -> None:
    """Make a named agent token: prints it once and stores only its hash in the tokens file.

    Example: `casebase token alice --file ws/tokens.toml`, then `casebase serve --tokens-file ws/tokens.toml`
    """
    from casebase.serve.security import add_named_token

    try:
        secret = add_named_token(file, name)
    except CasebaseError as err:
        fail(err)
    out.print(Text(f"token for {name} (shown once; its hash is in {file}):"))
    print(secret)


@app.command("export-feedback")
def export_feedback(
    out_file: Annotated[Path, typer.Option("--out", help="JSONL file to write.")] = Path("feedback-sft.jsonl"),
    workspace: WorkspaceOpt = Path("workspace"),
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Write accepted and edited answers from casebase.db as chat JSONL for `casebase train --extra`: the exact
    prompt each draft was generated from, then the agent's final answer. Rejected drafts and suggestions stored
    without their prompt (retrieval-only, abstained, older casebase) are left out and counted.

    Example: `casebase export-feedback -w ws --out feedback.jsonl && casebase train -w ws --extra feedback.jsonl`
    """
    from casebase.serve.store import SKIP_REASONS, Store

    setup(quiet, as_json)
    ws = Workspace.at(workspace, create=False)
    if not (ws.db).exists():
        fail(CasebaseError(f"no casebase.db in {ws.root}: serve the workspace and collect feedback first "
                           f"(`casebase serve --workspace {ws.root}`)"))
    result = Store(ws.db).export_feedback(out_file)

    def show(r: dict) -> None:
        out.print(Text(f"wrote {r['examples']} examples (accepted + edited answers) to {r['out']}; train on them with "
                       f"`casebase train --workspace {ws.root} --extra {r['out']}`"))
        for reason, n in r["skipped"].items():
            if n:
                out.print(Text(f"  left out {n}: {SKIP_REASONS[reason]}"))

    emit(result, as_json, quiet, show)

"""The serving commands of the ``casebase`` command line: suggest, serve, export-feedback
(registered on ``casebase.cli.app``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from casebase.cli import JsonOpt, LanguagesOpt, QuietOpt, WorkspaceOpt, app, emit, fail, setup
from casebase.errors import CasebaseError
from rich.text import Text

from casebase.render import out, print_suggestion
from casebase.workspace import Workspace


@app.command()
def suggest(
    text: Annotated[str, typer.Argument(help="The ticket's message (body).")],
    subject: Annotated[str, typer.Option(help="The ticket's subject.")] = "",
    arm: Annotated[Optional[str], typer.Option(
        help="retrieval, base, base+rag, standard, standard+rag or hybrid+rag [default: the recommended arm of the latest "
             "evaluation, else base+rag].")] = None,
    llm: Annotated[Optional[str], typer.Option(help="Base model spec (local, local:PATH, openai:URL#MODEL).")] = None,
    k: Annotated[int, typer.Option(min=1, help="Past cases cited.")] = 3,
    workspace: WorkspaceOpt = Path("workspace"),
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """A draft solution, urgency and category for a new ticket, with the past cases it rests on.

    Example: `casebase suggest --workspace ws --subject "ATP" "Error BTE 01000821 when running ATP check"`
    """
    from casebase.serve.engine import Suggester

    setup(quiet, as_json)
    try:
        engine = Suggester(Workspace.at(workspace, create=False), arm=arm, llm=llm, k=k)
        subject, text, redacted = engine.redact_ticket(subject, text)
        answer = engine.suggest(subject, text) | {"redacted": redacted}
    except CasebaseError as err:
        fail(err)
    emit(answer, as_json, quiet, print_suggestion)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on; beyond loopback only with a token of 16+ characters.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port.")] = 8000,
    arm: Annotated[Optional[str], typer.Option(help="Generation arm [default: recommended by the latest evaluation, else base+rag].")] = None,
    llm: Annotated[Optional[str], typer.Option(help="Base model spec (local, local:PATH, openai:URL#MODEL).")] = None,
    languages: LanguagesOpt = None,
    allowed_host: Annotated[Optional[list[str]], typer.Option(
        "--allowed-host", help="A Host name clients use to reach the server (repeatable; '*' turns the check off). "
                               "Loopback names, the --host address and, on 0.0.0.0, this machine's names are allowed.")] = None,
    tokens_file: Annotated[Optional[Path], typer.Option(
        envvar="CASEBASE_TOKENS_FILE", help="TOML file of named agent tokens (name = \"sha256:<hex>\"), made by "
                                            "`casebase token`; feedback and retained cases record the agent.")] = None,
    workspace: WorkspaceOpt = Path("workspace"),
) -> None:
    """Serve the API (/api/..., OpenAPI at /docs) and the agents' page (/) over a workspace.

    With `CASEBASE_TOKEN` or `--tokens-file` set, every route but the page and /healthz needs
    `Authorization: Bearer <token>`. Requests for another Host name are refused (DNS rebinding).

    Example: `CASEBASE_TOKEN=$(python -c 'import secrets; print(secrets.token_urlsafe(32))') casebase serve -w ws --host 0.0.0.0 --allowed-host desk.example.com`
    """
    import uvicorn

    from casebase.serve.app import check_bind, create_app
    from casebase.serve.security import bind_socket

    try:
        check_bind(host, os.environ.get("CASEBASE_TOKEN"), tokens_file)
        sock = bind_socket(host, port)  # a busy port is an error now, not after "serving on"
        application = create_app(Workspace.at(workspace, create=False), arm=arm, llm=llm, languages=languages,
                                 tokens_file=tokens_file, host=host, allowed_host=allowed_host)
        application.state.engine.warm()
    except CasebaseError as err:
        fail(err)
    engine = application.state.engine
    out.print(Text(f"casebase serving {workspace} on http://{host}:{port}/ (arm {engine.arm}: {engine.reason}); "
                   f"token {'required' if application.state.tokens.required else 'off (loopback only)'}; "
                   f"hosts {', '.join(application.state.allowed_hosts)}; Ctrl+C stops it"))
    config = uvicorn.Config(application, log_level="warning", timeout_keep_alive=5, limit_concurrency=256,
                            h11_max_incomplete_event_size=32_768)
    uvicorn.Server(config).run(sockets=[sock])


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
    """Write accepted and edited answers from casebase.db as SFT-ready chat JSONL (the next training round).

    Example: `casebase export-feedback --workspace ws --out feedback.jsonl`
    """
    from casebase.serve.store import Store

    setup(quiet, as_json)
    ws = Workspace.at(workspace, create=False)
    if not (ws.root / "casebase.db").exists():
        fail(CasebaseError(f"no casebase.db in {ws.root}: serve the workspace and collect feedback first "
                           f"(`casebase serve --workspace {ws.root}`)"))
    n = Store(ws.root / "casebase.db").export_feedback(out_file)
    emit({"examples": n, "out": str(out_file)}, as_json, quiet,
         lambda r: out.print(Text(f"wrote {r['examples']} examples (accepted + edited answers) to {r['out']}")))

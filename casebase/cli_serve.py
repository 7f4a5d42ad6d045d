"""The serving commands of the ``casebase`` command line: suggest, serve, export-feedback
(registered on ``casebase.cli.app``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from casebase.cli import JsonOpt, LanguagesOpt, QuietOpt, WorkspaceOpt, app, emit, fail, setup
from casebase.errors import CasebaseError
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
    host: Annotated[str, typer.Option(help="Interface to listen on; beyond loopback only with CASEBASE_TOKEN set.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    arm: Annotated[Optional[str], typer.Option(help="Generation arm [default: recommended by the latest evaluation, else base+rag].")] = None,
    llm: Annotated[Optional[str], typer.Option(help="Base model spec (local, local:PATH, openai:URL#MODEL).")] = None,
    languages: LanguagesOpt = None,
    workspace: WorkspaceOpt = Path("workspace"),
) -> None:
    """Serve the API (/api/..., OpenAPI at /docs) and the agents' page (/) over a workspace.

    Write endpoints need `Authorization: Bearer $CASEBASE_TOKEN` when that variable is set.

    Example: `casebase serve --workspace ws --port 8765`
    """
    import uvicorn

    from casebase.serve.app import check_bind, create_app

    try:
        check_bind(host, os.environ.get("CASEBASE_TOKEN"))
        application = create_app(Workspace.at(workspace, create=False), arm=arm, llm=llm, languages=languages)
        application.state.engine.warm()
    except CasebaseError as err:
        fail(err)
    out.print(f"casebase serving {workspace} on http://{host}:{port}/ (arm {application.state.engine.arm}: "
              f"{application.state.engine.reason}); Ctrl+C stops it")
    uvicorn.run(application, host=host, port=port, log_level="warning")


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
         lambda r: out.print(f"wrote {r['examples']} examples (accepted + edited answers) to {r['out']}"))

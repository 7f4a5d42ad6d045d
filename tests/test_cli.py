"""The command line: help, examples, errors without tracebacks, JSON output, the demo."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from casebase.cli import app

runner = CliRunner()
COMMANDS = ["sample", "ingest", "extract", "split", "index", "search", "train", "merge", "evaluate", "suggest",
            "serve", "export-feedback", "forget", "demo", "rerun"]


def test_help_lists_every_command():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert name in result.output


@pytest.mark.parametrize("name", COMMANDS)
def test_each_command_help_shows_an_example(name):
    result = runner.invoke(app, [name, "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.output and f"casebase {name}" in result.output


def test_user_error_is_one_message_and_exit_code_2(tmp_path):
    empty = tmp_path / "tickets.csv"
    empty.write_text("")
    result = runner.invoke(app, ["ingest", "--tickets", str(empty), "--workspace", str(tmp_path / "ws")])
    assert result.exit_code == 2
    assert "the file is empty" in result.output
    assert "Traceback" not in result.output


def test_ingest_json_output_and_workspace_env(tmp_path, monkeypatch):
    t, m = tmp_path / "t.csv", tmp_path / "m.csv"
    pd.DataFrame([{"ticket_id": "a", "opened_at": "2024-01-01", "subject": "s"}]).to_csv(t, index=False)
    pd.DataFrame([{"ticket_id": "a", "body": "Error ME21N", "role": "customer"}]).to_csv(m, index=False)
    monkeypatch.setenv("CASEBASE_WORKSPACE", str(tmp_path / "from-env"))
    result = runner.invoke(app, ["ingest", "--tickets", str(t), "--history", str(m), "--json"])
    assert result.exit_code == 0, result.output
    manifest = json.loads(result.stdout)
    assert manifest["counts"]["messages"]["out"] == 1
    assert (tmp_path / "from-env" / "messages.parquet").exists()


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("casebase ")


@pytest.mark.slow  # the whole pipeline / the real model: make test-all and CI
def test_demo_runs_on_a_tiny_sample(tmp_path, monkeypatch):
    """The README's `make demo` path, small: sample -> ingest -> extract -> split -> index -> train (1 step) ->
    evaluate -> serve (its own trial release, by name; the server's loop is stubbed out)."""
    import socket

    import uvicorn

    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets=None: None)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ws = tmp_path / "demo"
    result = runner.invoke(app, ["demo", "--workspace", str(ws), "--tickets", "40", "--train-steps", "1",
                                 "--eval-tickets", "1", "--port", str(port)])
    assert result.exit_code == 0, result.output
    assert "demo done" in result.output
    manifest = json.loads((ws / "ingest.json").read_text())
    assert manifest["counts"]["tickets"] == {"in": 40, "out": 40, "quarantined": 0, "balanced": True}
    msgs = pd.read_parquet(ws / "messages.parquet")
    assert set(msgs["role"]) == {"customer", "responder"}
    assert not msgs["body"].str.contains(r"[\w.+-]+@[\w-]+\.[\w.-]+").any()
    cases = pd.read_parquet(ws / "cases.parquet")
    assert len(cases) == 40 and cases["resolved"].any()
    assert (ws / "train.jsonl").exists() and (ws / "test.jsonl").read_text().strip()
    assert (ws / "index" / "embeddings.npy").exists() and "search, first test ticket" in result.output
    assert (ws / "models" / "hybrid" / "adapter_model.safetensors").exists() and "hybrid adapter on" in result.output
    assert (ws / "eval" / "demo" / "report.html").exists() and "report:" in result.output
    release = json.loads((ws / "releases" / "demo" / "manifest.json").read_text())
    assert release["status"] == "trial" and release["tickets"] == 1
    assert "release demo:" in result.output and "is a TRIAL" in result.output  # served by name, and says so

"""Atomic writes and manifests that vouch for their outputs: what a reader says when files and manifest disagree.

The kill -9 suite itself is tests/test_crash.py (``make test-robust``); these are the fast, exact cases.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from casebase.cli import app
from casebase.errors import CasebaseError
from casebase.workspace import (Workspace, atomic_dir, atomic_write, file_record, pending_marker, recover_dir,
                                verify_outputs, write_manifest)
from test_forget import fws  # noqa: F401  (a fixture: the whole pipeline on 20 tickets)

runner = CliRunner()


def cli(*args):
    result = runner.invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


@pytest.fixture
def ingested(tmp_path):
    t, m = tmp_path / "t.csv", tmp_path / "m.csv"
    pd.DataFrame([{"ticket_id": f"T{i}", "opened_at": f"2024-01-0{i + 1}", "subject": f"ME21N error {i}"}
                  for i in range(3)]).to_csv(t, index=False)
    pd.DataFrame([{"ticket_id": f"T{i}", "body": f"Error {i} in ME21N when posting", "role": "customer"}
                  for i in range(3)]).to_csv(m, index=False)
    ws = tmp_path / "ws"
    assert cli("ingest", "--tickets", t, "--history", m, "--no-ner", "-w", ws, "-q").exit_code == 0
    return Workspace(ws)


def test_zero_byte_tickets_beside_a_valid_ingest_json_says_rerun_ingest(ingested):
    """The report of issue 14: kill -9 in ingest's write step left a 0-byte tickets.parquet beside an ingest.json
    that claimed success, and `casebase extract` died with a pyarrow ArrowInvalid traceback."""
    ingested.tickets.write_bytes(b"")
    result = cli("extract", "-w", ingested.root)
    assert result.exit_code == 2
    assert "tickets.parquet does not match" in result.output and "ingest.json (interrupted or edited)" in result.output
    assert "re-run `casebase ingest" in result.output


def test_a_manifest_from_before_the_hashes_still_gets_a_message_not_a_traceback(ingested):
    manifest = json.loads(ingested.manifest_path("ingest").read_text())
    del manifest["files"]  # as ingest.json was written before issue 14
    ingested.manifest_path("ingest").write_text(json.dumps(manifest))
    ingested.tickets.write_bytes(b"")
    result = cli("extract", "-w", ingested.root)
    assert result.exit_code == 2 and "cannot be read" in result.output and "re-run `casebase ingest" in result.output


def test_a_damaged_manifest_is_a_rerun_message(ingested):
    ingested.manifest_path("ingest").write_text('{"stage": "ingest", "counts": {')  # cut short by hand
    with pytest.raises(CasebaseError, match="ingest.json cannot be read .*re-run `casebase ingest"):
        ingested.read_manifest("ingest")
    result = cli("extract", "-w", ingested.root)
    assert result.exit_code == 2 and "re-run `casebase ingest" in result.output


def test_manifest_records_each_output_and_the_next_stage_checks_it(ingested):
    files = ingested.read_manifest("ingest")["files"]
    assert set(files) == {"tickets.parquet", "messages.parquet", "quarantine.csv"}
    assert files["tickets.parquet"]["path"] == str(ingested.tickets.resolve())
    assert not pending_marker(ingested.manifest_path("ingest")).exists()
    assert cli("extract", "-w", ingested.root, "-q").exit_code == 0
    assert ingested.read_manifest("extract")["files"].keys() == {"cases.parquet"}
    ingested.quarantine.write_text(ingested.quarantine.read_text() + "edited\n")  # any file listed, not only those read
    result = cli("extract", "-w", ingested.root)
    assert result.exit_code == 2 and "quarantine.csv does not match" in result.output
    ingested.quarantine.unlink()
    result = cli("extract", "-w", ingested.root)
    assert result.exit_code == 2 and "quarantine.csv is missing but" in result.output


def test_files_without_a_manifest_after_an_interrupted_first_run(ingested):
    ingested.manifest_path("ingest").unlink()
    assert cli("extract", "-w", ingested.root, "-q").exit_code == 0  # files made by hand (or a tool): taken as they are
    ingested.begin("ingest")  # a first run killed between renaming its outputs and writing ingest.json
    result = cli("extract", "-w", ingested.root)
    assert result.exit_code == 2 and "tickets.parquet has no" in result.output
    assert "re-run `casebase ingest" in result.output


def test_split_and_index_check_their_inputs(ingested):
    ws = ingested
    assert cli("extract", "-w", ws.root, "-q").exit_code == 0
    (ws.root / "cases.parquet").write_bytes(b"PAR1")
    result = cli("split", "-w", ws.root)
    assert result.exit_code == 2 and "cases.parquet does not match" in result.output
    assert "re-run `casebase extract" in result.output
    assert cli("extract", "-w", ws.root, "-q").exit_code == 0
    assert cli("split", "-w", ws.root, "-q", "--test-share", "0.34", "--val-share", "0").exit_code == 0
    with open(ws.root / "train.jsonl", "a") as f:
        f.write('{"ticket_id": "X", "problem": "added by hand"}\n')
    result = cli("index", "--model", "fake", "-w", ws.root)
    assert result.exit_code == 2 and "train.jsonl does not match" in result.output
    assert "re-run `casebase split" in result.output


def test_index_folder_and_index_json_vouch_for_each_other(indexed_ws):
    ws = indexed_ws
    root = ws.root / "index"
    folder = json.loads((root / "manifest.json").read_text())
    assert {"embeddings.npy", "metadata.parquet"} <= set(folder["files"]) and "manifest.json" not in folder["files"]
    assert any(name.startswith("bm25/") for name in folder["files"])
    assert ws.read_manifest("index")["index_build"] == folder["build_id"]
    assert cli("search", "ORA-00942", "-w", ws.root, "-q").exit_code == 0

    bm25 = next(p for p in sorted((root / "bm25").iterdir()) if p.is_file())
    bm25.write_bytes(bm25.read_bytes()[:-1])
    result = cli("search", "ORA-00942", "-w", ws.root)
    assert result.exit_code == 2 and f"{bm25.name} does not match" in result.output
    assert "re-run `casebase index" in result.output
    result = cli("index", "--model", "fake", "-w", ws.root, "-q")  # not "up to date": rebuilt
    assert result.exit_code == 0, result.output
    assert cli("search", "ORA-00942", "-w", ws.root, "-q").exit_code == 0

    # a kill after the new folder was swapped in, before index.json: the old index.json names another build
    old = ws.manifest_path("index").read_text()
    assert cli("index", "--model", "fake", "-w", ws.root, "-q", "--force").exit_code == 0
    ws.manifest_path("index").write_text(old)
    result = cli("search", "ORA-00942", "-w", ws.root)
    assert result.exit_code == 2 and "does not match" in result.output and "index.json" in result.output
    assert cli("index", "--model", "fake", "-w", ws.root, "-q").exit_code == 0
    assert cli("search", "ORA-00942", "-w", ws.root, "-q").exit_code == 0


def test_forget_keeps_every_manifest_vouching_for_the_files_it_rewrote(fws):
    from casebase.retrieve.index import verify_index
    from test_forget import GONE

    result = runner.invoke(app, ["forget", "--workspace", str(fws.root), "--ticket", GONE])
    assert result.exit_code == 0, result.output
    for stage in ("ingest", "extract", "split"):
        assert fws.require(stage)["files"], stage
    assert verify_index(fws)["count"] == fws.read_manifest("index")["counts"]["cases"]
    assert cli("search", "ORA-12154", "-w", fws.root, "-q").exit_code == 0
    assert cli("split", "-w", fws.root, "-q").exit_code == 0


def test_atomic_write_keeps_the_old_file_when_the_write_fails(tmp_path):
    path = tmp_path / "out.csv"
    path.write_text("old\n")

    def half(tmp):
        tmp.write_text("ne")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        atomic_write(path, half)
    assert path.read_text() == "old\n" and os.listdir(tmp_path) == ["out.csv"]
    atomic_write(path, lambda tmp: tmp.write_text("new\n"))
    assert path.read_text() == "new\n" and os.listdir(tmp_path) == ["out.csv"]


def test_atomic_dir_swaps_whole_folders_and_undoes_a_kill_between_its_renames(tmp_path):
    path = tmp_path / "index"
    atomic_dir(path, lambda tmp: (tmp / "a").write_text("1"))
    with pytest.raises(RuntimeError):
        atomic_dir(path, lambda tmp: ((tmp / "a").write_text("2"), (_ for _ in ()).throw(RuntimeError("killed"))))
    assert (path / "a").read_text() == "1" and sorted(os.listdir(tmp_path)) == ["index"]
    path.rename(tmp_path / ".index.old")  # killed after moving the old folder aside, before the new one came in
    recover_dir(path)
    assert (path / "a").read_text() == "1"
    atomic_dir(path, lambda tmp: (tmp / "b").write_text("3"))
    assert os.listdir(path) == ["b"] and sorted(os.listdir(tmp_path)) == ["index"]


def test_big_files_are_checked_by_size_and_the_hash_of_their_ends(tmp_path, monkeypatch):
    import casebase.workspace as workspace

    monkeypatch.setattr(workspace, "SAMPLE_ABOVE", 3 << 20)
    big = tmp_path / "embeddings.npy"
    big.write_bytes(os.urandom(4 << 20))
    record = file_record(big, sampled=True)
    assert set(record) == {"bytes", "ends_sha256"} and file_record(big)["sha256"]
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"files": {"embeddings.npy": record}}))
    assert verify_outputs(manifest, "casebase index")
    with open(big, "r+b") as f:
        f.truncate(3 << 20)
    with pytest.raises(CasebaseError, match="embeddings.npy does not match"):
        verify_outputs(manifest, "casebase index")


def test_evaluate_refuses_an_adapter_out_of_step_with_its_manifest(indexed_ws):
    from casebase.arms import parse_arms

    ws = indexed_ws
    out = ws.root / "models" / "standard"
    out.mkdir(parents=True)
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        (out / name).write_text(name)
    write_manifest(ws, "train-standard", path=out / "manifest.json", config={}, inputs={}, counts={}, timings={},
                   files=[out / "adapter_config.json", out / "adapter_model.safetensors"])
    assert parse_arms("retrieval,standard", ws) == ["retrieval", "standard"]
    (out / "adapter_model.safetensors").write_text("half")
    with pytest.raises(CasebaseError, match=r"adapter_model.safetensors does not match .*re-run `casebase train"):
        parse_arms("retrieval,standard", ws)
    from casebase.serve.engine import Suggester

    with pytest.raises(CasebaseError, match=r"adapter_model.safetensors does not match .*re-run `casebase train"):
        Suggester(ws, arm="standard")  # serve and suggest check it as evaluate does


def test_export_feedback_replaces_its_file_whole(tmp_path):
    from casebase.serve.store import Store

    out = tmp_path / "sft.jsonl"
    out.write_text("old\n")
    assert Store(tmp_path / "casebase.db").export_feedback(out)["examples"] == 0
    assert out.read_text() == "" and not list(tmp_path.glob(".sft*"))


# --- pool workers die with their parent ------------------------------------------------------------------

PARENT = r"""
import multiprocessing, os, sys, time
from concurrent.futures import ProcessPoolExecutor
import importlib
ingest = importlib.import_module("casebase.ingest.workers")
if sys.argv[1] == "watchdog":
    ingest.ctypes = None  # no prctl: only the portable watchdog thread
pool = ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork"), initializer=ingest._init_pool_worker,
                           initargs=(None,))
pool.submit(int).result()  # a fork pool starts all its workers at once
print(" ".join(map(str, sorted(pool._processes))), flush=True)
time.sleep(120)
"""


def alive(pid: int) -> bool:
    """Running, not a zombie (an orphan re-parented to an init that does not reap shows as Z)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
@pytest.mark.parametrize("mode", ["pdeathsig", "watchdog"])
def test_pool_workers_exit_when_their_parent_is_killed(mode):
    parent = subprocess.Popen([sys.executable, "-c", PARENT, mode], stdout=subprocess.PIPE, text=True)
    try:
        workers = [int(p) for p in parent.stdout.readline().split()]
        assert len(workers) == 2 and all(map(alive, workers))
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    deadline = time.monotonic() + 5
    while any(map(alive, workers)) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [w for w in workers if alive(w)]
    for w in left:  # leave nothing behind, whatever the result
        os.kill(w, signal.SIGKILL)
    assert not left, f"pool workers {left} outlived their killed parent ({mode})"

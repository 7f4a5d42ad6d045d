"""Crash consistency (issue 14): every stage killed with SIGKILL, and the workspace still tells the truth.

    make test-robust                                  # pytest -m robust (CI too)
    pytest -m robust tests/test_crash.py -s           # the summary line: kills survived, by stage

On a 60-ticket sample (two seeds, so a re-run writes different outputs), each stage's CLI runs in a subprocess
and is killed at seeded random moments of its measured duration, and just before each rename it makes (a small
runner counts os.replace/os.rename and sends itself SIGKILL at the n-th). After each kill: every output file is
whole (its bytes are the old run's or the new run's), every other stage's manifest still vouches for its files,
and the killed stage's manifest vouches for old or new outputs, or its reader says which command to re-run; the
next stage then works or exits 2 with "re-run `casebase <stage>`", never a traceback. Then the killed stage runs
again, and it and the next stage complete. Train (a tiny random Llama, ~15 s a run) is killed only twice: before
one seeded rename of its adapter, checkpoint, tokenizer and curve files, and before the rename of its manifest.
The last test kills an ingest whose process pool is running and checks that no worker outlives it.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from casebase.cli import app
from casebase.errors import CasebaseError
from casebase.retrieve.index import verify_index
from casebase.workspace import Workspace, recover_dir, verify_outputs

pytestmark = pytest.mark.robust

SEED = 14
RANDOM_KILLS = 4  # per stage, besides one kill before each rename
STAGES = ("ingest", "extract", "split", "index", "evaluate")
NEXT = {"ingest": ["extract"], "extract": ["split"], "split": ["index", "--model", "fake"],
        "index": ["search", "posting error in the purchase order", "-k", "3"], "evaluate": None}
ENV = {**os.environ, "PYTHONHASHSEED": "0", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
RUNNER = r"""
import atexit, os, signal, sys
at, count = int(os.environ.get("CASEBASE_CRASH_AT", "0")), 0
def hooked(real):
    def call(*args, **kwargs):
        global count
        count += 1
        if count == at:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(*args, **kwargs)
    return call
os.replace, os.rename = hooked(os.replace), hooked(os.rename)
atexit.register(lambda: sys.stderr.write(f"\ncrash points: {count}\n"))
from casebase.cli import app
sys.argv = ["casebase", *sys.argv[1:]]
app()
"""
runner = CliRunner()


def command(stage: str, raw: Path) -> list[str]:
    return {"ingest": ["ingest", "--tickets", str(raw / "tickets.csv"), "--history", str(raw / "history.csv"),
                       "--mapping", "saleslogix", "--no-ner"],
            "extract": ["extract"], "split": ["split"], "index": ["index", "--model", "fake"],
            "evaluate": ["evaluate", "--llm", "fake", "--arms", "retrieval,base", "--name", "crash"]}[stage]


def cli(args, ws: Path | None):
    """A command in this process: (exit code, output); a traceback fails the test."""
    result = runner.invoke(app, [*args, *(["--workspace", str(ws)] if ws else []), "-q"])
    assert result.exception is None or isinstance(result.exception, SystemExit), (args, result.output, result.exception)
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def manifest_file(ws: Path, stage: str) -> Path:
    return ws / "eval" / "crash" / "manifest.json" if stage == "evaluate" else ws / f"{stage}.json"


def verify(ws: Path, stage: str) -> None:
    """What a reader of the stage's outputs checks first (raises the re-run CasebaseError)."""
    if stage == "index":
        verify_index(Workspace(ws))
    elif stage == "evaluate":
        verify_outputs(manifest_file(ws, stage), "casebase evaluate", [ws / "eval" / "crash" / "results.csv"])
    else:
        Workspace(ws).require(stage)


def output_hashes(ws: Path, stage: str) -> dict[str, str]:
    """{path in the workspace: sha256} of the outputs a stage's manifests record (evaluate's hold timings: none)."""
    if stage == "evaluate" or not manifest_file(ws, stage).exists():
        return {}
    found = {name: r["sha256"] for name, r in json.loads(manifest_file(ws, stage).read_text())["files"].items()}
    if stage == "index" and (ws / "index" / "manifest.json").exists():
        folder = json.loads((ws / "index" / "manifest.json").read_text())["files"]
        found |= {f"index/{name}": r["sha256"] for name, r in folder.items()}  # small files: all hashed whole
    return found


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_killable(args: list[str], ws: Path, crash_at: int = 0) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", RUNNER, *args, "--workspace", str(ws), "-q"],
                            env={**ENV, "CASEBASE_CRASH_AT": str(crash_at)}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """Per stage: a workspace where every stage ran on sample A and the stages before it on sample B, and the
    same workspace after the stage ran there too (the reference: its new outputs, duration, renames)."""
    root = tmp_path_factory.mktemp("crash")
    raws = {}
    for name, seed in (("a", 0), ("b", 1)):
        raws[name] = root / f"raw-{name}"
        assert cli(["sample", "--tickets", "60", "--format", "csv", "--seed", str(seed), "--out", str(raws[name])],
                   None)[0] == 0
    ws = root / "pre-ingest"
    for stage in STAGES:
        assert cli(command(stage, raws["a"]), ws)[0] == 0, stage
    pre, ref = {}, {}
    for i, stage in enumerate(STAGES):
        if i:  # the stage before runs on B
            ws_next = root / f"pre-{stage}"
            shutil.copytree(ws, ws_next)
            ws = ws_next
            assert cli(command(STAGES[i - 1], raws["b"]), ws)[0] == 0
        pre[stage] = ws
        ref_ws = root / f"ref-{stage}"
        shutil.copytree(ws, ref_ws)
        t = time.perf_counter()
        proc = run_killable(command(stage, raws["b"]), ref_ws)
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        ref[stage] = {"ws": ref_ws, "seconds": time.perf_counter() - t,
                      "renames": int(err.rsplit("crash points:", 1)[1].split()[0])}
    return {"root": root, "raw": raws["b"], "pre": pre, "ref": ref}


def check_after_kill(ws: Path, stage: str, pre: Path, ref: Path) -> str:
    """The invariants after a kill; returns the killed stage's state: old, new or re-run."""
    recover_dir(ws / "index")  # as every reader of the index does first
    old, new = output_hashes(pre, stage), output_hashes(ref, stage)
    for name in old.keys() | new.keys():
        path = ws / name
        if path.exists():
            assert sha(path) in (old.get(name), new.get(name)), f"{name} is neither the old nor the new file"
        else:
            assert name not in old, f"{name} of the previous {stage} vanished"
    for other in STAGES:
        if other != stage and manifest_file(ws, other).exists():
            verify(ws, other)  # a kill of one stage leaves every other stage's outputs vouched for
    try:
        verify(ws, stage)
    except CasebaseError as err:
        assert f"re-run `casebase {stage}" in str(err) and "(interrupted or edited)" in str(err), str(err)
        return "re-run"
    same = manifest_file(ws, stage).read_text() == manifest_file(pre, stage).read_text()
    return "old" if same else "new"


def check_next(ws: Path, stage: str, state: str) -> None:
    if NEXT[stage] is None:
        return
    code, output = cli(NEXT[stage], ws)
    if state == "re-run":
        assert code == 2 and f"re-run `casebase {stage}" in " ".join(output.split()), output
    else:
        assert code == 0, output


def test_every_stage_survives_kill_9(prepared, capsys):
    rng = random.Random(SEED)
    started = time.perf_counter()
    kills, states, finished_first = Counter(), Counter(), 0
    for stage in STAGES:
        pre, ref = prepared["pre"][stage], prepared["ref"][stage]
        plan = [("rename", n) for n in range(1, ref["renames"] + 1)]
        plan += [("random", rng.uniform(0.3, 1.0) * ref["seconds"]) for _ in range(RANDOM_KILLS)]
        for i, (kind, at) in enumerate(plan):
            ws = prepared["root"] / f"kill-{stage}-{i}"
            shutil.copytree(pre, ws)
            if kind == "rename":
                proc = run_killable(command(stage, prepared["raw"]), ws, crash_at=at)
                _, err = proc.communicate(timeout=300)
                assert proc.returncode == -signal.SIGKILL, (stage, at, err)
            else:
                proc = run_killable(command(stage, prepared["raw"]), ws)
                time.sleep(at)
                proc.send_signal(signal.SIGKILL)
                _, err = proc.communicate(timeout=300)
                if proc.returncode != -signal.SIGKILL:
                    assert proc.returncode == 0, err
                    finished_first += 1
            state = check_after_kill(ws, stage, pre, ref["ws"])
            check_next(ws, stage, state)
            code, output = cli(command(stage, prepared["raw"]), ws)  # the re-run completes ...
            assert code == 0, output
            verify(ws, stage)
            left = [p for p in ws.rglob(".*") if p.name.endswith((".tmp", ".old", ".writing"))]
            assert not left, f"the re-run of {stage} left {left}"  # ... cleans up after the killed run ...
            check_next(ws, stage, "new")  # ... and the next stage works
            if proc.returncode == -signal.SIGKILL:
                kills[stage] += 1
                states[state] += 1
            shutil.rmtree(ws)
    total = sum(kills.values())
    with capsys.disabled():
        print(f"\ncrash test: {total} kills survived ({', '.join(f'{s} {n}' for s, n in kills.items())}; "
              f"after the kill: {dict(states)}; {finished_first} runs finished before their random kill) "
              f"in {time.perf_counter() - started:.0f} s")
    assert total >= len(STAGES) * 2 and states["re-run"] and states["old"]


def child_pids(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


@pytest.mark.skipif(sys.platform != "linux" or (os.cpu_count() or 1) < 2, reason="reads /proc; the pool needs 2 cores")
def test_killed_ingest_leaves_no_pool_worker_behind(tmp_path):
    """Ingest cleans and redacts in a process pool above 2,000 messages; kill -9 of the parent used to leave its
    workers waiting on the task queue forever."""
    raw, ws = tmp_path / "raw", tmp_path / "ws"
    assert cli(["sample", "--tickets", "500", "--format", "csv", "--out", str(raw)], None)[0] == 0
    proc = run_killable(command("ingest", raw), ws)
    deadline, workers = time.monotonic() + 120, []
    while len(workers) < 2 and proc.poll() is None and time.monotonic() < deadline:
        workers = child_pids(proc.pid)
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert len(workers) >= 2, "the ingest pool never started (more than 2,000 messages are needed)"
    deadline = time.monotonic() + 5
    while any(map(alive, workers)) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [w for w in workers if alive(w)]
    for w in left:
        os.kill(w, signal.SIGKILL)
    assert not left, f"pool workers {left} outlived the killed ingest"
    code, output = cli(["extract"], ws)  # killed before its write step: nothing there, and extract says so
    assert code == 2 and "run `casebase ingest" in output


def test_train_survives_kill_9(prepared, tiny_base, tmp_path, capsys):
    """Train on the tiny 2-layer Llama of tests/test_train.py (~10 s a run): killed before one random rename of its
    adapter, tokenizer, checkpoint and curve files and before the rename of its manifest, a first run leaves files
    that evaluate refuses (exit 2, "casebase train"); the re-run with --overwrite completes and evaluate works."""
    started = time.perf_counter()
    settings = tmp_path / "tiny.toml"
    settings.write_text("lora_r = 4\nlora_alpha = 8\nval_limit = 4\n")
    train = ["train", "--method", "standard", "--base", f"local:{tiny_base}", "--max-steps", "2", "--batch-size", "2",
             "--eval-every", "1", "--save-every", "2", "--max-length", "256", "--config", str(settings), "--overwrite"]
    evaluate = ["evaluate", "--llm", "fake", "--arms", "retrieval,standard", "--name", "t", "--limit", "2"]
    base = prepared["ref"]["index"]["ws"]
    ref = tmp_path / "ref"
    shutil.copytree(base, ref)
    proc = run_killable(train, ref)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    renames = int(err.rsplit("crash points:", 1)[1].split()[0])
    kills, points = 0, (random.Random(SEED).randint(1, renames - 1), renames)
    for at in points:
        ws = tmp_path / f"kill-{at}"
        shutil.copytree(base, ws)
        proc = run_killable(train, ws, crash_at=at)
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == -signal.SIGKILL, err
        manifest = ws / "models" / "standard" / "manifest.json"
        assert not manifest.exists()
        code, output = cli(evaluate, ws)
        assert code == 2 and "casebase train" in output, output
        assert cli(train, ws)[0] == 0
        assert verify_outputs(manifest, "casebase train")["files"]
        assert cli(evaluate, ws)[0] == 0
        kills += 1
        shutil.rmtree(ws)
    with capsys.disabled():
        print(f"\ncrash test (train): {kills} kills survived (before rename {points[0]} and {points[1]} of {renames}) "
              f"in {time.perf_counter() - started:.0f} s")

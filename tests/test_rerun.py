"""Stage configs, `--config FILE` and `casebase rerun`: a manifest's config runs the stage again, byte for byte."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from casebase.cli import app
from casebase.errors import CasebaseError
from casebase.workspace import Workspace

runner = CliRunner()
STAGES = ("ingest", "extract", "split", "index")


def cli(*args):
    return runner.invoke(app, [str(a) for a in args])


def ok(*args):
    result = cli(*args)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """A small sample through ingest, extract, split and index, given relative paths from its own folder."""
    import os

    root = tmp_path_factory.mktemp("rerun")
    cwd = os.getcwd()
    os.chdir(root)
    try:
        ok("sample", "--out", "raw", "--tickets", "80", "--format", "csv", "-q")
        ok("ingest", "--tickets", "raw/tickets.csv", "--history", "raw/history.csv", "-w", "ws", "--no-ner", "-q")
        ok("extract", "-w", "ws", "-q")
        ok("split", "-w", "ws", "-q")
        ok("index", "-w", "ws", "--model", "fake", "-q")
    finally:
        os.chdir(cwd)
    return root / "ws"


def test_every_manifest_records_every_field_of_its_config(pipeline):
    from casebase.config import STAGES as KNOWN, stage_of

    for stage in STAGES:
        manifest = json.loads((pipeline / f"{stage}.json").read_text())
        model, _ = stage_of(manifest, pipeline / f"{stage}.json")
        assert manifest["stage"] in KNOWN and set(manifest["config"]) == set(model.model_fields), stage
        assert model(**manifest["config"]).saved() == manifest["config"]  # it round-trips
    ingest = json.loads((pipeline / "ingest.json").read_text())["config"]
    assert ingest["tickets"].startswith("/") and ingest["redact"]["ner"] is False  # absolute: runs from anywhere
    assert json.loads((pipeline / "index.json").read_text())["config"]["model"] == "fake"


def test_rerun_reproduces_each_stage_byte_for_byte(pipeline, tmp_path, monkeypatch):
    from casebase.retrieve import load_index

    monkeypatch.chdir(tmp_path)  # another directory: the relative paths given to ingest must not matter
    shutil.rmtree(pipeline / "cache", ignore_errors=True)  # extract works again instead of reading its cache
    before = load_index(Workspace.at(pipeline))
    query = before.metadata["problem"].iloc[0]
    scores_before = before.bm25.scores(query)
    for stage in STAGES:
        result = cli("rerun", pipeline / f"{stage}.json", "--check", "--json")
        assert result.exit_code == 0, result.output
        out = json.loads(result.stdout)
        check = out["check"]
        assert out["stage"] == stage and check["same"] and not check["missing"] and not out["inputs_changed"]
        assert check["differ"] == [], (stage, check)  # the BM25 files too (their vocabulary is sorted; across
        if stage == "index":  # processes and hash seeds: test_retrieve's test_bm25_files_do_not_depend_on_the_hash_seed)
            assert {"index/metadata.parquet", "index/embeddings.npy"} <= set(check["same"])
    after = load_index(Workspace.at(pipeline))
    assert (after.bm25.scores(query) == scores_before).all()


def test_rerun_check_fails_when_the_outputs_differ(pipeline, tmp_path):
    ws = tmp_path / "ws"
    shutil.copytree(pipeline, ws)
    manifest = json.loads((ws / "split.json").read_text())
    manifest["config"]["test_share"] = 0.4  # not the config that made these files
    (ws / "split.json").write_text(json.dumps(manifest))
    result = cli("rerun", ws / "split.json", "--check")
    assert result.exit_code == 1 and "differ: " in result.output and "test.jsonl" in result.output
    assert json.loads((ws / "split.json").read_text())["config"]["test_share"] == 0.4


def test_config_file_then_flags(pipeline, tmp_path):
    ws = tmp_path / "ws"
    shutil.copytree(pipeline, ws)
    (tmp_path / "split.toml").write_text("test_share = 0.3\nval_share = 0.2\n")
    m = json.loads(ok("split", "-w", ws, "--config", tmp_path / "split.toml", "--val-share", "0.05", "--json").stdout)
    assert (m["config"]["test_share"], m["config"]["val_share"]) == (0.3, 0.05)  # the file, then the flag
    (tmp_path / "index.yaml").write_text("model: fake\ntext: problem+solution\n")
    m = json.loads(ok("index", "-w", ws, "--config", tmp_path / "index.yaml", "--json").stdout)
    assert (m["config"]["model"], m["config"]["text"]) == ("fake", "problem+solution")
    (tmp_path / "extract.json").write_text(json.dumps({"method": "heuristic", "limit": 5}))
    m = json.loads(ok("extract", "-w", ws, "--config", tmp_path / "extract.json", "--json").stdout)
    assert m["config"]["limit"] == 5 and m["counts"]["tickets"] == 5


def test_ingest_config_file_with_a_redact_table_merges_with_the_flags(pipeline, tmp_path):
    raw = pipeline.parent / "raw"
    (tmp_path / "ingest.toml").write_text(f'tickets = "{raw / "tickets.csv"}"\nhistory = "{raw / "history.csv"}"\n'
                                          '[redact]\nlanguages = ["en"]\nner = true\n')
    m = json.loads(ok("ingest", "-w", tmp_path / "ws", "--config", tmp_path / "ingest.toml", "--no-ner",
                      "--json").stdout)
    assert m["config"]["redact"]["languages"] == ["en"] and m["config"]["redact"]["ner"] is False
    assert m["redaction"]["languages"] == ["en"]


def test_bad_config_names_the_field_and_the_allowed_values(tmp_path):
    (tmp_path / "index.toml").write_text('ann = "sometimes"\nann_recal = 0.9\n')
    result = cli("index", "-w", tmp_path / "ws", "--config", tmp_path / "index.toml")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "--ann 'sometimes'" in result.output and "'auto', 'always' or 'never'" in result.output
    assert "ann_recal: not a setting" in result.output
    result = cli("split", "-w", tmp_path / "ws", "--test-share", "0.6", "--val-share", "0.5")
    assert result.exit_code == 2 and "must sum below 1" in result.output
    result = cli("ingest", "-w", tmp_path / "ws")
    assert result.exit_code == 2 and "--tickets (tickets) is required" in result.output
    (tmp_path / "list.json").write_text("[1, 2]")
    result = cli("extract", "-w", tmp_path / "ws", "--config", tmp_path / "list.json")
    assert result.exit_code == 2 and "a config file holds a table" in result.output


def test_rerun_refuses_what_it_cannot_reproduce(pipeline, tmp_path):
    from casebase.cli_rerun import rerun

    old = json.loads((pipeline / "ingest.json").read_text())
    old["config"] = {"mapping": {"name": "saleslogix"}, "max_body_chars": 50_000, "redact": {"ner": False}}
    (tmp_path / "ingest.json").write_text(json.dumps(old))  # as casebase wrote it before configs
    with pytest.raises(CasebaseError, match=r"mapping.*by hand: `casebase ingest"):
        rerun(tmp_path / "ingest.json")
    del old["config"]
    (tmp_path / "ingest.json").write_text(json.dumps(old))
    with pytest.raises(CasebaseError, match="records no config"):
        rerun(tmp_path / "ingest.json")
    (tmp_path / "other.json").write_text(json.dumps({"stage": "forget", "config": {}}))
    with pytest.raises(CasebaseError, match="re-runnable: ingest"):
        rerun(tmp_path / "other.json")
    (tmp_path / "models" / "hybrid").mkdir(parents=True)
    (tmp_path / "models" / "hybrid" / "manifest.json").write_text(json.dumps({"stage": "train-hybrid", "config": {}}))
    with pytest.raises(CasebaseError, match="--overwrite"):
        rerun(tmp_path / "models" / "hybrid" / "manifest.json")
    result = cli("rerun", tmp_path / "nothing.json")
    assert result.exit_code == 2 and "no such manifest" in result.output


def test_stage_names_of_nested_manifests():
    from casebase.config import stage_name

    assert stage_name({"stage": "train-hybrid"}) == "train"
    assert stage_name({"stage": "extract-llm-limit20"}) == "extract"
    assert stage_name({"stage": "evaluate"}) == "evaluate" and stage_name({"stage": "forget"}) is None


def test_run_takes_a_config_or_keywords(pipeline, tmp_path):
    from casebase.split import SplitConfig, run

    ws = tmp_path / "ws"
    shutil.copytree(pipeline, ws)
    a = run(Workspace.at(ws), SplitConfig(test_share=0.2))
    b = run(Workspace.at(ws), test_share=0.2)
    c = run(Workspace.at(ws), SplitConfig(val_share=0.3), test_share=0.2)  # keywords override the config
    assert a["config"] == b["config"] and c["config"]["val_share"] == 0.3 and c["config"]["test_share"] == 0.2
    with pytest.raises(CasebaseError, match="--dedup-threshold 2"):
        run(Workspace.at(ws), dedup_threshold=2)


def test_serve_redacts_with_the_languages_ingest_used(pipeline):
    from casebase.serve.engine import workspace_redactor

    manifest = json.loads((pipeline / "ingest.json").read_text())
    assert manifest["config"]["redact"]["languages"] is None  # guessed by ingest, recorded under redaction
    redactor = workspace_redactor(Workspace.at(pipeline), corpus=["Bonjour, merci beaucoup pour votre aide"])
    assert list(redactor.languages) == manifest["redaction"]["languages"]


def test_rerun_of_train_reproduces_the_adapter(indexed_ws, tiny_base):
    from test_train import tiny_config

    from casebase.cli_rerun import rerun
    from casebase.train import run

    first = run(indexed_ws, tiny_config(tiny_base, method="standard", max_steps=2))
    path = indexed_ws.root / "models" / "standard" / "manifest.json"
    weights = (path.parent / "adapter_model.safetensors").read_bytes()
    curves_before = (path.parent / "curves.csv").read_text().splitlines()
    result = rerun(path, check=True, overwrite=True)
    again = json.loads(path.read_text())
    assert result["stage"] == "train" and again["config"] == first["config"]
    assert again["loss"] == first["loss"]
    assert (path.parent / "adapter_model.safetensors").read_bytes() == weights
    check = result["check"]
    assert "adapter_model.safetensors" in check["same"] and not check["missing"]
    assert check["differ"] in ([], ["curves.csv"]), check  # curves.csv has a train_seconds column: wall time
    curves = [line.rsplit(",", 1)[0] for line in (path.parent / "curves.csv").read_text().splitlines()]
    assert curves == [line.rsplit(",", 1)[0] for line in curves_before]


def test_rerun_of_evaluate_from_its_run_folder(indexed_ws):
    from test_evaluate import TEST
    from test_retrieve import write_cases

    from casebase.cli_rerun import rerun
    from casebase.evaluate import run

    write_cases(indexed_ws.root / "test.jsonl", TEST)
    run(indexed_ws, llm="fake", name="t", n_resamples=200)
    path = indexed_ws.root / "eval" / "t" / "manifest.json"
    before = json.loads(path.read_text())
    summary = json.loads((path.parent / "summary.json").read_text())
    result = rerun(path, check=True)  # eval/t/manifest.json: the workspace is two folders up
    assert result["stage"] == "evaluate" and result["workspace"] == str(indexed_ws.root)
    assert json.loads(path.read_text())["config"] == before["config"]
    check = result["check"]
    assert {"results.csv", "report.html"} <= set(check["same"]) and not check["missing"]
    assert check["differ"] in ([], ["summary.json"]), check  # summary.json holds each arm's wall time
    again = json.loads((path.parent / "summary.json").read_text())
    assert {k: v for k, v in again.items() if k != "timings_s"} == {k: v for k, v in summary.items()
                                                                    if k != "timings_s"}

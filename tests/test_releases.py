"""Releases: evaluate records what it measured; serve serves exactly that or refuses; caches keyed on content."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from casebase.errors import CasebaseError
from casebase.workspace import write_manifest
from test_evaluate import TEST
from test_retrieve import TRAIN, write_cases


@pytest.fixture
def eval_ws(indexed_ws):
    from casebase.llm import clear_cache

    clear_cache()
    write_cases(indexed_ws.root / "test.jsonl", TEST)
    return indexed_ws


def fake_adapter(ws, name: str = "hybrid", weights: bytes = b"weights-v1") -> None:
    """An adapter directory as `casebase train` leaves it (the fake LLM never reads the weights)."""
    out = ws.model(name)
    out.mkdir(parents=True, exist_ok=True)
    (out / "adapter_config.json").write_text("{}")
    (out / "adapter_model.safetensors").write_bytes(weights)
    write_manifest(ws, f"train-{name}", path=out / "manifest.json", config={"max_length": 256, "method": name},
                   inputs={}, counts={}, timings={}, extra={"base": "fake"},
                   files=[out / "adapter_config.json", out / "adapter_model.safetensors"])


def summary_for(arm: str, tickets: int) -> dict:
    return {"recommended": arm, "recommended_reason": "test", "primary_metric": "rouge_l", "tickets": tickets,
            "arms_summary": {arm: {"rouge_l": {"mean": 0.3, "low": 0.25, "high": 0.35}}}}


def release(ws, name: str, arm: str = "retrieval", tickets: int = 40, llm: str | None = None) -> dict:
    from casebase.releases import write_release

    run = ws.eval_run(name)
    run.mkdir(parents=True, exist_ok=True)
    write_manifest(ws, "evaluate", path=run / "manifest.json", config={}, inputs={}, counts={}, timings={})
    return write_release(ws, name=name, summary=summary_for(arm, tickets),
                         config={"llm": llm, "k": 3, "max_new_tokens": 160}, eval_manifest=run / "manifest.json")


def test_without_a_release_serve_answers_with_retrieval_only_and_says_so(eval_ws):
    from casebase.serve.app import create_app
    from casebase.serve.engine import Suggester

    engine = Suggester(eval_ws, llm="fake")
    assert engine.arm == "retrieval" and engine.release is None  # before: base+rag, the arm that lost every evaluation
    assert "no release yet: retrieval only" in engine.reason
    health = TestClient(create_app(eval_ws, llm="fake", token=""), base_url="http://127.0.0.1").get("/healthz").json()
    assert health["arm"] == "retrieval" and health["release"] is None and "no release" in health["arm_reason"]


def test_evaluate_writes_a_release_a_small_or_fake_run_is_a_trial_served_only_by_name(eval_ws):
    from casebase.evaluate import run
    from casebase.releases import all_releases, find
    from casebase.serve.engine import Suggester

    summary = run(eval_ws, llm="fake", name="small", n_resamples=100)
    rel = json.loads(eval_ws.release("small").read_text())
    assert rel == summary["release"]
    assert rel["arm"] == summary["recommended"] and rel["tickets"] == 3 and rel["k"] == 3
    assert rel["metric"]["name"] == "rouge_l" and rel["metric"]["low"] <= rel["metric"]["mean"] <= rel["metric"]["high"]
    assert rel["status"] == "trial" and len(rel["trial_because"]) == 2  # 3 tickets < 30, and the fake model
    alone = run(eval_ws, arms="base+rag", llm="fake", name="alone", n_resamples=100)["release"]
    assert "retrieval, the baseline an arm must beat, was not evaluated beside it" in alone["trial_because"]
    assert rel["eval_run"] == "eval/small" and rel["prompt_version"]
    assert sorted(r["name"] for r in all_releases(eval_ws)) == ["alone", "small"]
    assert find(eval_ws, "latest") is None  # a trial is never `latest`
    assert Suggester(eval_ws, llm="fake").arm == "retrieval"
    by_name = Suggester(eval_ws, release="small", llm="fake")
    assert by_name.release["name"] == "small" and by_name.arm == rel["arm"] and "TRIAL" in by_name.reason
    with pytest.raises(CasebaseError, match="no such release.*releases: .*small"):
        Suggester(eval_ws, release="nope")


def test_latest_is_the_newest_release_that_is_not_a_trial(eval_ws):
    from casebase.releases import find
    from casebase.serve.app import create_app

    release(eval_ws, "r1", tickets=40)
    release(eval_ws, "r2", tickets=12)  # newer but a trial
    assert find(eval_ws, "latest")["name"] == "r1"
    health = TestClient(create_app(eval_ws, token=""), base_url="http://127.0.0.1").get("/healthz").json()
    assert health["release"]["name"] == "r1" and health["release"]["status"] == "release"
    assert health["release"]["metric"]["mean"] == pytest.approx(0.3) and health["release"]["tickets"] == 40


def test_serve_refuses_a_release_whose_adapter_was_retrained_and_names_the_fix(eval_ws):
    from casebase.serve.engine import Suggester

    fake_adapter(eval_ws)
    rel = release(eval_ws, "h1", arm="hybrid+rag", tickets=40, llm="fake")
    assert rel["model"]["adapter_sha256"] and rel["token_budget"] == 256 - 160
    engine = Suggester(eval_ws, release="h1")
    assert engine.arm == "hybrid+rag" and engine.llm_spec == "fake" and engine.k == 3
    fake_adapter(eval_ws, weights=b"weights-v2")  # `casebase train --overwrite` since the evaluation
    with pytest.raises(CasebaseError) as err:
        Suggester(eval_ws, release="h1")
    assert "retrained since it was evaluated" in str(err.value)
    assert f"casebase rerun {eval_ws.root / 'eval' / 'h1' / 'manifest.json'}" in str(err.value)
    with pytest.raises(CasebaseError, match="--k 5 differs from the release's 3"):
        Suggester(eval_ws, release="h1", k=5)


def test_cli_releases_lists_and_checks_them(eval_ws):
    from typer.testing import CliRunner

    from casebase.cli import app

    fake_adapter(eval_ws)
    release(eval_ws, "r1", tickets=40)
    release(eval_ws, "h1", arm="hybrid+rag", tickets=40, llm="fake")
    fake_adapter(eval_ws, weights=b"weights-v2")
    r = CliRunner().invoke(app, ["releases", "-w", str(eval_ws.root), "--json"])
    assert r.exit_code == 0, r.output
    rows = {x["name"]: x for x in json.loads(r.stdout)["releases"]}
    assert rows["r1"]["problems"] == [] and rows["h1"]["problems"]
    assert "retrained" in rows["h1"]["problems"][0]


def test_evaluation_replies_are_keyed_on_adapter_weights_not_the_model_name(eval_ws):
    from casebase.evaluate import run
    from casebase.llm import get_llm

    fake_adapter(eval_ws)
    run(eval_ws, arms="hybrid+rag", llm="fake", name="demo", n_resamples=50)
    fake = get_llm("fake")
    calls = len(fake.calls)
    run(eval_ws, arms="hybrid+rag", llm="fake", name="demo", n_resamples=50)
    assert len(fake.calls) == calls  # same adapter: every reply from the cache
    fake_adapter(eval_ws, weights=b"retrained")
    run(eval_ws, arms="hybrid+rag", llm="fake", name="demo", n_resamples=50)
    assert len(fake.calls) > calls  # before: the old adapter's replies were reused under the name "demo"


def test_extraction_is_keyed_on_the_scorer_weights_and_the_code(tmp_path, monkeypatch):
    import importlib

    import numpy as np

    from casebase.extract import run as extract
    from casebase.extract import scorer as scorer_module
    from casebase.ingest import run as ingest
    from casebase.workspace import Workspace
    from test_forget import write_export

    extract_module = importlib.import_module("casebase.extract.run")  # the package exports its run() under that name

    write_export(tmp_path)
    ws = Workspace.at(tmp_path / "ws")
    ingest(ws, tmp_path / "tickets.csv", tmp_path / "messages.csv", mapping="canonical")
    first = extract(ws)
    assert first["counts"]["worked"] == first["counts"]["tickets"]
    assert extract(ws)["counts"]["worked"] == 0  # nothing changed: all from the cache
    base = scorer_module.default_scorer()
    retuned = scorer_module.Scorer(base.weights * np.float32(1.5), base.resolved_weights, base.meta)  # same labels
    monkeypatch.setattr(extract_module, "default_scorer", lambda: retuned)
    assert extract(ws)["counts"]["worked"] == first["counts"]["tickets"]  # before: keyed on labels, reused
    monkeypatch.setattr(extract_module, "code_version", lambda: "changed-rules")
    assert extract(ws)["counts"]["worked"] == first["counts"]["tickets"]


def test_an_adapter_retrained_after_the_server_started_is_refused_when_its_weights_load(eval_ws):
    from casebase.serve.engine import Suggester

    fake_adapter(eval_ws)
    release(eval_ws, "h1", arm="hybrid+rag", tickets=40, llm="fake")
    engine = Suggester(eval_ws, release="h1")  # checked at start: fine
    fake_adapter(eval_ws, weights=b"weights-v2")  # `casebase train --overwrite` while it serves
    with pytest.raises(CasebaseError, match="retrained since it was evaluated"):
        answer = engine.suggest("", TRAIN[0][1])  # a past case's own words: no abstaining, a draft is generated
        pytest.fail(f"served a draft of weights never evaluated: {answer}")  # before: it was


def test_equivalent_settings_are_not_refused_and_a_retrieval_release_ignores_model_settings(eval_ws):
    from casebase.serve.engine import Suggester

    fake_adapter(eval_ws)  # trained on base "fake" (its manifest says so)
    release(eval_ws, "h0", arm="hybrid+rag", tickets=40, llm=None)
    assert Suggester(eval_ws, release="h0", llm="fake").arm == "hybrid+rag"  # before: "--llm fake differs from None"
    release(eval_ws, "r1", tickets=40)
    engine = Suggester(eval_ws, release="r1", llm="local:/elsewhere", max_new_tokens=64)  # no model in retrieval
    assert engine.arm == "retrieval" and engine.release["name"] == "r1"


def test_the_fake_model_as_an_adapters_base_makes_a_trial_too(eval_ws):
    from casebase.evaluate import run

    fake_adapter(eval_ws)  # base "fake", evaluated without --llm
    rel = run(eval_ws, arms="retrieval,hybrid+rag", name="nofakeflag", n_resamples=50)["release"]
    assert "evaluated with the fake model" in rel["trial_because"]  # before: the literal --llm only


def test_a_release_is_refused_once_the_index_is_rebuilt_another_way(eval_ws):
    from casebase.retrieve import build_index
    from casebase.serve.engine import Suggester

    release(eval_ws, "r1", tickets=40)
    assert release(eval_ws, "r1", tickets=40)["index"]["text"] == "problem"
    build_index(eval_ws, model="fake", text="problem+solution")
    with pytest.raises(CasebaseError, match="index was rebuilt with another text"):
        Suggester(eval_ws, release="r1")


def test_arm_and_release_together_are_refused_wherever_they_come_from(eval_ws, tmp_path):
    from typer.testing import CliRunner

    from casebase.cli import app

    runner = CliRunner()
    r = runner.invoke(app, ["suggest", "-w", str(eval_ws.root), "--release", "nope", "--arm", "retrieval", "x"])
    assert r.exit_code == 2 and "give one" in r.output  # before: the release was silently ignored
    config = tmp_path / "serve.toml"
    config.write_text('release = "r1"\n')
    r = runner.invoke(app, ["serve", "-w", str(eval_ws.root), "--config", str(config), "--arm", "retrieval"])
    assert r.exit_code == 2 and "give one" in r.output  # before: served the arm ad hoc


@pytest.mark.parametrize("name", ["latest", "../elsewhere", "a/b", ""])
def test_an_evaluation_name_is_one_plain_folder_name(eval_ws, name):
    from casebase.evaluate import run

    with pytest.raises(CasebaseError, match="give a plain name"):
        run(eval_ws, llm="fake", name=name, n_resamples=50)


def test_an_adapter_retrained_during_the_evaluation_makes_no_release(eval_ws, monkeypatch):
    from casebase.evaluate import run
    from casebase.llm import get_llm

    fake_adapter(eval_ws)
    fake = get_llm("fake")
    real = fake.generate

    def retrain_then_answer(prompts, *a, **kw):
        fake_adapter(eval_ws, weights=b"retrained meanwhile")
        return real(prompts, *a, **kw)

    monkeypatch.setattr(fake, "generate", retrain_then_answer)
    with pytest.raises(CasebaseError, match="changed on disk while it was evaluated"):
        run(eval_ws, arms="hybrid+rag", llm="fake", name="during", n_resamples=50)
    assert not eval_ws.release("during").exists()

"""The LLM backends against software nobody here wrote: llama.cpp's OpenAI-compatible server (llama-cpp-python's
``llama_cpp.server``) and its Python binding, on the bundled SmolLM2 GGUF, on a loopback port.

    make test-integration          # installs llama-cpp-python first (make setup-llamacpp), then runs these

They skip where llama-cpp-python is not installed, except under ``make test-integration``
(``CASEBASE_REQUIRE_LLAMACPP=1``), where a missing server is a failure.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]
CASEBASE = Path(sys.executable).with_name("casebase")


def _require_llamacpp():
    from casebase.llm import llamacpp

    if not llamacpp.available():
        if os.environ.get("CASEBASE_REQUIRE_LLAMACPP"):
            pytest.fail("llama-cpp-python is not installed: `make setup-llamacpp`")
        pytest.skip("llama-cpp-python is not installed (make setup-llamacpp)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """llama.cpp's server on the bundled GGUF, model alias ``smollm2``; yields its /v1 URL."""
    _require_llamacpp()
    from casebase.llm.gguf import default_gguf

    port = _free_port()
    log = tmp_path_factory.mktemp("llamacpp") / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(default_gguf()),
                                 "--model_alias", "smollm2", "--host", "127.0.0.1", "--port", str(port),
                                 "--n_ctx", "4096", "--seed", "0"], stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama.cpp's server exited ({proc.returncode}): {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama.cpp's server did not answer in 120 s: {log.read_text()[-2000:]}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def ingested(tmp_path_factory):
    from casebase.ingest import run as ingest
    from casebase.sample.generate import write_sample
    from casebase.workspace import Workspace

    root = tmp_path_factory.mktemp("ws")
    write_sample(root / "export", n_tickets=12, seed=5, fmt="csv")
    ws = Workspace.at(root / "ws")
    ingest(ws, root / "export" / "tickets.csv", root / "export" / "history.csv")
    return ws


def test_openai_backend_gets_schema_constrained_json_from_llama_cpp_server(server):
    from casebase.llm.openai import OpenAILLM
    from casebase.llm.prompts import parse_json_object

    llm = OpenAILLM(server, "smollm2", concurrency=2)
    schema = {"type": "object", "properties": {"answer": {"type": "string"}, "n": {"type": "integer"}},
              "required": ["answer", "n"]}
    replies = llm.generate(["Reply with a JSON object: the word yes as answer and 3 as n.", "Say hi."],
                           max_new_tokens=48, json_schema=schema)
    assert len(replies) == 2
    for reply in replies:  # constrained decoding: every reply is an object of the schema, whatever the model is
        data = parse_json_object(reply)
        assert data is not None, reply
        assert set(data) >= {"answer", "n"} and isinstance(data["n"], int), reply
    assert llm.model == "smollm2" and llm._first_model() == "smollm2"


def test_casebase_extract_llm_method_runs_against_llama_cpp_server(server, ingested):
    out = subprocess.run([str(CASEBASE), "extract", "--workspace", str(ingested.root), "--method", "llm",
                          "--llm", f"openai:{server}#smollm2", "--limit", "3"],
                         capture_output=True, text=True, timeout=900, cwd=REPO)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    manifest = json.loads((ingested.root / "extract-llm-limit3.json").read_text())
    assert manifest["counts"]["tickets"] == 3 and manifest["counts"]["cases"] == 3
    assert manifest["extractor"]["model"] == f"openai:{server}#smollm2"
    import pandas as pd

    cases = pd.read_parquet(ingested.root / "cases-llm-limit3.parquet")
    extractors = [json.loads(e) for e in cases["extractor"]]
    # each case came from the server's reply, or records why the heuristic stood in: never silently
    assert all(e["model"] == f"openai:{server}#smollm2" for e in extractors)
    assert all(e.get("fallback") is None or e["fallback"].startswith("heuristic: ") for e in extractors)
    assert manifest["counts"]["llm_fallbacks"] == sum(e.get("fallback") is not None for e in extractors)


def test_llamacpp_backend_in_process_matches_the_server_greedy(server):
    """The binding backend (``--llm llamacpp``) and the server run the same llama.cpp on the same GGUF with the same
    chat template: greedy replies to the same chat are the same text. (The server's own defaults add a repetition
    penalty of 1.1; greedy here means none, as on the transformers backend, so the request says so.)"""
    from casebase.llm import get_llm

    prompt = [{"role": "user", "content": "Name one spreadsheet program."}]
    llm = get_llm("llamacpp")
    here = llm.generate([prompt], max_new_tokens=24)[0]
    answer = httpx.post(f"{server}/chat/completions", timeout=120, json={
        "model": "smollm2", "messages": prompt, "max_tokens": 24, "temperature": 0.0, "top_k": 1, "top_p": 1.0,
        "min_p": 0.0, "repeat_penalty": 1.0}).json()
    assert here.strip() and here.strip() == answer["choices"][0]["message"]["content"].strip()
    assert llm.completion_tokens == answer["usage"]["completion_tokens"]


def test_llamacpp_backend_constrains_json_to_the_schema():
    _require_llamacpp()
    from casebase.extract.llm_method import SCHEMA, Extraction
    from casebase.llm import get_llm

    reply = get_llm("llamacpp").generate(["Ticket: the invoice report prints blank pages. Write the case."],
                                         max_new_tokens=96, json_schema=SCHEMA)[0]
    Extraction.model_validate_json(reply)  # a grammar from the schema: valid whatever the model


def _greedy_transformers(model, tokenizer, prompt: str, n: int) -> str:
    import torch

    ids = tokenizer(prompt, return_tensors="pt").input_ids
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=n, do_sample=False, pad_token_id=tokenizer.eos_token_id)
    return tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)


def _greedy_llamacpp(llm, prompt: str, n: int) -> str:
    out = llm.model.create_completion(prompt, max_tokens=n, temperature=0.0, top_k=1, top_p=1.0, min_p=0.0,
                                      repeat_penalty=1.0)
    return out["choices"][0]["text"]


def test_an_adapter_arm_on_llamacpp_runs_its_lora_as_transformers_and_peft_do(tmp_path):
    """A PEFT LoRA adapter (random, on every projection) converted by llama.cpp's own converter and applied by
    llama.cpp continues a text as transformers + PEFT do with the same adapter, greedy, and unlike the base
    model: the adapter arms run on the llamacpp backend with their own weights (casebase.llm.lora_gguf)."""
    _require_llamacpp()
    import torch
    from peft import LoraConfig, get_peft_model

    from casebase.arms import ArmModels, adapter_dir
    from casebase.llm import clear_cache, lora_gguf
    from casebase.llm.gguf import default_gguf, load_gguf
    from casebase.workspace import Workspace

    if not lora_gguf.available():
        pytest.fail(lora_gguf.INSTALL_HINT)
    tokenizer, model = load_gguf(default_gguf(), torch.float32)
    torch.manual_seed(0)
    peft_model = get_peft_model(model, LoraConfig(
        r=8, lora_alpha=16, init_lora_weights=False,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]))
    with torch.no_grad():  # a small adapter: it changes the text, it does not scramble the model
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.mul_(0.5)
    ws = Workspace.at(tmp_path / "ws")
    peft_model.save_pretrained(adapter_dir(ws, "standard"))
    prompt, n = "The three most common causes of a failed invoice import are", 16
    with_adapter = _greedy_transformers(peft_model, tokenizer, prompt, n)
    with peft_model.disable_adapter():
        without = _greedy_transformers(peft_model, tokenizer, prompt, n)
    assert with_adapter != without  # the adapter matters

    clear_cache()
    arms = ArmModels(ws, "llamacpp")
    standard, base = arms.get("standard")[0], arms.get("base")[0]
    assert standard.name.endswith("+standard") and standard.lora is not None and standard.lora.is_file()
    assert _greedy_llamacpp(base, prompt, n) == without
    assert _greedy_llamacpp(standard, prompt, n) == with_adapter
    assert lora_gguf.convert(adapter_dir(ws, "standard"), default_gguf()) == standard.lora  # cached

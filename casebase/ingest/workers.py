"""Cleaning and redacting many message bodies: the rule layers in worker processes, the named-entity pass here.

    msgs, stats = clean_and_redact(msgs, redactor, max_chars=50_000, q=quarantine)

Workers are forked (spawned off Linux) with the redactor, and die with their parent (``die_with_parent``): a parent
killed with SIGKILL runs no clean-up, and its workers would otherwise wait on the task queue forever.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from typing import TYPE_CHECKING

import pandas as pd

from casebase.ingest.clean import clean_text
from casebase.ingest.redact import Redactor
from casebase.progress import track

if TYPE_CHECKING:
    from casebase.ingest.run import Quarantine

_WORKER_REDACTOR: Redactor | None = None
CHUNK = 500  # texts a task
PARALLEL_TEXTS = 4 * CHUNK  # more texts than this (and more than one core): worker processes


def default_workers() -> int:
    return min(os.cpu_count() or 1, 8)


def in_parallel(n_texts: int, workers: int | None = None) -> bool:
    """Whether ``clean_and_redact`` runs ``n_texts`` in worker processes."""
    return (workers if workers is not None else default_workers()) > 1 and n_texts > PARALLEL_TEXTS


def _init_worker(redactor: Redactor) -> None:
    global _WORKER_REDACTOR
    _WORKER_REDACTOR = redactor


def _init_pool_worker(redactor: Redactor) -> None:
    _init_worker(redactor)
    die_with_parent()


def die_with_parent(poll_s: float = 0.5) -> None:
    """End this pool worker when its parent dies: a parent killed with SIGKILL runs no clean-up, and its workers
    would wait on the task queue forever. On Linux the kernel sends SIGKILL (PR_SET_PDEATHSIG; the pool forks its
    workers from the main thread, so the signal tracks the parent process); everywhere a watchdog thread sees the
    parent gone (the worker is handed to another parent) within ``poll_s``."""
    parent = os.getppid()
    if sys.platform == "linux":
        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        os._exit(1)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


def _clean_stage_chunk(args: tuple[list[str], int, bool]) -> list[tuple[tuple, bool]]:
    texts, max_chars, clean = args
    if not clean:  # ticket fields: prepared by the caller, staged as they are
        return [(staged, False) for staged in _WORKER_REDACTOR.stage_many(texts)]
    return clean_stage_many(texts, _WORKER_REDACTOR, max_chars)


def clean_stage_many(texts: list[str], redactor: Redactor, max_chars: int) -> list[tuple[tuple, bool]]:
    """Truncate, clean and run every redaction layer but the named-entity pass: (staged, truncated)."""
    cut = [len(t) > max_chars for t in texts]
    texts = [t[:max_chars] + f"\n[... {len(t) - max_chars} characters truncated]" if c else t
             for t, c in zip(texts, cut)]
    return list(zip(redactor.stage_many([clean_text(t) for t in texts]), cut))


def clean_and_redact(msgs: pd.DataFrame, redactor: Redactor, max_chars: int, q: Quarantine,
                     workers: int | None = None, fields: list[str] | None = None):
    """Clean and redact every body, and redact ``fields`` (the tickets' text fields, already cleaned) as they are:
    the layers in worker processes when there are many texts, the named-entity pass here on each chunk as it comes
    back (in the process ``ner.aside`` started, when ingest holds one; else here, loaded while the workers run
    the first chunks). The fields' results: ``stats["fields"]``."""
    texts = [str(t) for t in msgs["body"]]
    fields = list(fields or [])
    workers = workers if workers is not None else default_workers()
    chunks = [(texts[i: i + CHUNK], max_chars, True) for i in range(0, len(texts), CHUNK)]
    chunks += [(fields[i: i + CHUNK], max_chars, False) for i in range(0, len(fields), CHUNK)]
    done: list[tuple[str, Counter]] = []
    truncated = 0

    def finish(part: list[tuple[tuple, bool]]) -> None:
        nonlocal truncated
        done.extend(redactor.finish_many([s for s, _ in part]))
        truncated += sum(cut for _, cut in part)

    if in_parallel(len(texts) + len(fields), workers):
        ctx = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_pool_worker,
                                 initargs=(redactor,)) as pool:
            pending = pool.map(_clean_stage_chunk, chunks)  # submits every chunk: the workers start now
            redactor.load()
            for part in track(pending, "clean + redact messages", total=len(chunks)):
                finish(part)
    else:
        _init_worker(redactor)
        for c in track(chunks, "clean + redact messages", total=len(chunks)):
            finish(_clean_stage_chunk(c))
    field_results = done[len(texts):]
    done = done[: len(texts)]
    counts: Counter = Counter()
    for _, c in done:
        counts.update(c)
    msgs = msgs.assign(body=[text for text, _ in done])
    reason = "empty after cleaning (only quoted text, signature or boilerplate)"
    for flag, table in (("_from_ticket", "ticket-body"), ("_from_resolution", "ticket-resolution"), (None, "messages")):
        if flag is None or flag in msgs:
            empty = msgs["body"].str.len() == 0  # of the rows still here
            msgs = q.add(msgs, empty & msgs[flag] if flag else empty, reason, table)
    return msgs, {"redacted": counts, "truncated": truncated, "fields": field_results,
                  "chars_in": sum(map(len, texts)), "chars_out": int(msgs["body"].str.len().sum())}

"""Suggestions for a new ticket: retrieval, triage and a draft from the best evaluated arm.

    engine = Suggester(ws)                       # loads the index and (lazily) the model once
    engine.suggest("ATP check", "Error BTE 01000821 when running the ATP check")

The arm: ``arm`` if given, else the best arm of the newest evaluation (``eval/*/summary.json``)
whose adapter exists, else base+rag, else retrieval only (served with a warning, and ``stale`` in /healthz, when
``casebase forget`` marked its adapter or evaluation stale). A ticket whose best match is below the
index's calibrated threshold gets no draft (``abstained``): no invented solution. Generation goes
through a ``Batcher`` so concurrent requests share model batches instead of queueing one by one.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from concurrent.futures import Future
from pathlib import Path

from casebase.errors import CasebaseError
from casebase.evaluate.run import ADAPTER, ARMS, arm_llm, check_adapters
from casebase.extract.heuristic import problem_text
from casebase.llm.answer import TokenBudget, build_messages, parse_answer
from casebase.progress import log
from casebase.stale import arm_staleness
from casebase.workspace import Workspace


class Batcher:
    """Collects concurrent calls for up to ``wait_s`` and runs them as one batch ``fn(items) -> results`` on one
    thread: generation shares model batches, and search shares one embedding pass (no thread oversubscription).
    ``wait_s=0`` adds no latency: a batch is whatever queued while the previous one ran."""

    def __init__(self, fn, batch_size: int = 8, wait_s: float = 0.02, name: str = "batcher"):
        self.fn, self.batch_size, self.wait_s = fn, batch_size, wait_s
        self.queue: queue.Queue = queue.Queue()
        threading.Thread(target=self._loop, daemon=True, name=f"casebase-{name}").start()

    def submit(self, item) -> Future:
        future: Future = Future()
        self.queue.put((item, future))
        return future

    def _loop(self) -> None:
        while True:
            batch = [self.queue.get()]
            deadline = time.monotonic() + self.wait_s
            while len(batch) < self.batch_size:
                try:
                    batch.append(self.queue.get(timeout=max(0.0, deadline - time.monotonic())))
                except queue.Empty:
                    break
            try:
                results = self.fn([item for item, _ in batch])
                for (_, future), result in zip(batch, results):
                    future.set_result(result)
            except Exception as error:  # one failed batch fails its requests, not the server
                for _, future in batch:
                    future.set_exception(error)


def evaluated_arm(ws: Workspace) -> tuple[str | None, str | None]:
    """(arm, summary path) of the newest evaluation run: its recommended arm (retrieval unless an arm beats it
    with a paired interval above 0), else the next in its ranking whose adapter exists; or (None, None)."""
    runs = sorted((ws.root / "eval").glob("*/summary.json"), key=lambda p: p.stat().st_mtime) \
        if (ws.root / "eval").exists() else []
    for path in reversed(runs):
        try:
            summary = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        for arm in [summary.get("recommended"), *summary.get("ranking", [])]:
            if arm in ARMS and (not ADAPTER.get(arm) or (ws.root / "models" / ADAPTER[arm] / "adapter_config.json").exists()):
                return arm, str(path)
    return None, None


def workspace_redactor(ws: Workspace, corpus: list[str], languages: str | None = None):
    """The ingest redactor with this workspace's key and settings (ingest.json): pasted tickets are
    redacted like the export (names that are plain words of the case base, such as a product called
    Sage, are kept); ``languages`` ("en,de") overrides the workspace's."""
    from casebase.ingest.redact import RedactConfig, build_redactor
    from casebase.ingest.run import workspace_key

    manifest = ws.read_manifest("ingest") or {}
    saved = dict((manifest.get("config") or {}).get("redact") or {})
    if saved.get("languages_used"):
        saved["languages"] = saved["languages_used"]
    config = RedactConfig(**{k: v for k, v in saved.items() if k in RedactConfig.model_fields})
    if languages:
        config = config.model_copy(update={"languages": RedactConfig.from_flags(languages).languages})
    return build_redactor(corpus=corpus, key=workspace_key(ws), config=config)


class Suggester:
    def __init__(self, ws: Workspace, arm: str | None = None, llm: str | None = None, k: int = 3,
                 max_new_tokens: int = 160, batch_size: int = 8, languages: str | None = None):
        from casebase.retrieve import load_index

        self.ws, self.k, self.max_new_tokens, self.llm_spec = ws, k, max_new_tokens, llm
        self.languages = languages
        self._redactor = None
        self.index = load_index(ws)
        self.lock = threading.Lock()  # the index is swapped when cases are retained
        reason, source = "set by --arm", None
        if arm is None:
            arm, source = evaluated_arm(ws)
            where = Path(source).relative_to(ws.root) if source and Path(source).is_relative_to(ws.root) else source
            reason = f"recommended arm of the latest evaluation ({where})" if arm else "no evaluation yet: base+rag"
            arm = arm or "base+rag"
        if arm not in ARMS:
            raise CasebaseError(f"--arm {arm!r}: choose from {', '.join(ARMS)}")
        check_adapters(ws, [arm])  # an adapter out of step with its manifest (a killed train) says re-run
        self.arm, self.reason = arm, reason
        self.stale = arm_staleness(ws, ADAPTER.get(arm), source)
        if self.stale:  # still served (the index no longer holds the erased cases), but say so
            logging.getLogger("casebase.serve").warning("warning: arm %s is stale (%s): %s", arm,
                                                        self.stale["reason"], self.stale["fix"])
        self.batch_size = batch_size
        self._generators: dict[str, tuple[Batcher, TokenBudget, str]] = {}  # arm -> (batcher, budget, model name)
        self.model_name = "retrieval only" if arm == "retrieval" else None
        self._searcher = Batcher(self._search_batch, batch_size=32, wait_s=0.0, name="search")

    def _generator(self, arm: str) -> tuple[Batcher, TokenBudget, str]:
        """The arm's model, loaded on first use (once per process and arm)."""
        if arm not in self._generators:
            llm, max_length = arm_llm(self.ws, arm, self.llm_spec, self.batch_size)
            budget = TokenBudget.of(getattr(llm, "tokenizer", None), max_length - self.max_new_tokens)
            batcher = Batcher(lambda prompts: llm.generate(prompts, max_new_tokens=self.max_new_tokens),
                              self.batch_size, name=f"generate-{arm}")
            self._generators[arm] = (batcher, budget, llm.name)
            if arm == self.arm:
                self.model_name = llm.name
            log(f"generation: {arm} with {llm.name} ({self.reason if arm == self.arm else 'asked for by the request'})")
        return self._generators[arm]

    @property
    def redactor(self):
        """The workspace's redactor, built on first use from the case base's text."""
        if self._redactor is None:
            self._redactor = workspace_redactor(self.ws, self.index.metadata["text"].tolist(), self.languages)
        return self._redactor

    def redact_ticket(self, subject: str | None, body: str) -> tuple[str, str, dict]:
        """A pasted ticket as the model may see it: (subject, body, what was redacted by type)."""
        (subject, c1), (body, c2) = self.redactor.redact_many([subject or "", body])
        return subject, body, dict(c1 + c2)

    def warm(self) -> None:
        """Load the query encoder and the redactor's model now (a server's first request should not pay)."""
        self.index.search_many(["warm up"], k=1)
        self.redactor.load()

    def search(self, text: str, k: int | None = None):
        """One search; concurrent ones share a batch (one embedding pass) through the search batcher."""
        return self._searcher.submit((text, k or self.k)).result(timeout=120)

    def _search_batch(self, items: list[tuple[str, int]]) -> list:
        with self.lock:
            index = self.index
        depth = max(k for _, k in items)
        hits = index.search_many([text for text, _ in items], k=depth)
        for hit, (_, k) in zip(hits, items):
            hit.results = hit.results[:k]
        return hits

    def suggest(self, subject: str | None, body: str, arm: str | None = None) -> dict:
        """The answer the API, CLI and page show; ``arm="retrieval"`` skips generation for this request."""
        t0 = time.perf_counter()
        arm = arm or self.arm
        problem = problem_text(subject, body)
        hit = self.search(problem)
        t_search = time.perf_counter() - t0
        cited = [{k: r[k] for k in ("case_id", "score", "problem", "solution", "category", "urgency")}
                 for r in hit.results]
        triage = {f: {"value": hit.triage[f]["value"], "confidence": hit.triage[f]["confidence"], "source": "neighbours"}
                  for f in ("category", "urgency")}
        answer = {"problem": problem, "arm": arm, "abstained": hit.abstained, "best_similarity": hit.best_similarity,
                  "threshold": hit.threshold, "cited_cases": cited, "solution": None, "parsed": None,
                  "category": triage["category"], "urgency": triage["urgency"],
                  "model": "retrieval only" if arm == "retrieval" else None}
        if hit.abstained:
            answer["note"] = "no similar past case: no draft was generated"
        elif arm == "retrieval":
            answer["solution"] = cited[0]["solution"] if cited else None
        else:
            if arm not in ARMS:
                raise CasebaseError(f"arm {arm!r}: choose from {', '.join(ARMS)}")
            batcher, budget, model_name = self._generator(arm)  # the arm asked for, not the server's
            messages = build_messages(problem, cited if arm.endswith("+rag") else [], budget)
            reply = batcher.submit(messages).result(timeout=600)
            parsed = parse_answer(reply)
            answer.update(solution=parsed.solution if parsed else reply.strip(), parsed=parsed is not None,
                          model=model_name)
            for field in ("category", "urgency"):
                value = getattr(parsed, field) if parsed else None
                if value:
                    agrees = value == triage[field]["value"]
                    answer[field] = {"value": value, "confidence": triage[field]["confidence"] if agrees else None,
                                     "source": "model", "neighbours": triage[field]["value"]}
        answer["timings_ms"] = {"search": round(1000 * t_search, 1), "total": round(1000 * (time.perf_counter() - t0), 1)}
        return answer

    def retain(self, case: dict) -> dict:
        """Add a resolved case to the index (embedded and searchable at once, no restart)."""
        import tempfile

        from casebase.retrieve import add_to_index, load_index

        with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
            f.write(json.dumps(case) + "\n")
        try:
            with self.lock:
                try:
                    manifest = add_to_index(self.ws, Path(f.name), embedder=self.index.embedder)
                except CasebaseError as err:  # its message names the temporary file: name the case instead
                    raise CasebaseError(str(err).replace(f"{f.name}: ", "").replace(f.name, "the case")) from None
                self.index = load_index(self.ws, embedder=self.index.embedder)
        finally:
            Path(f.name).unlink(missing_ok=True)
        return {"case_id": case["ticket_id"], "cases": manifest["counts"]["cases"]}

"""Suggestions for a new ticket: retrieval, triage and a draft from the released arm.

    engine = Suggester(ws)                       # the latest release; loads the index and (lazily) the model once
    engine = Suggester(ws, release="demo")       # a release by name (a trial is only ever served by name)
    engine.suggest("ATP check", "Error BTE 01000821 when running the ATP check")

What is served: ``arm`` if given (ad hoc, not a release), else the release (``casebase.releases``: ``latest`` is the
newest that is not a trial), served exactly as it was measured (its arm, model, k and token budget; a release
whose adapter or base model changed on disk is refused with the command that fixes it); with no release, retrieval
only. A release ``casebase forget`` marked stale is still served, with a warning and ``stale`` in /healthz. A ticket
whose best match is below the index's calibrated threshold gets no draft (``abstained``): no invented solution.
Generation goes through a ``Batcher`` so concurrent requests share model batches instead of queueing one by one;
the arms share one loaded base model (``casebase.arms.ArmModels``).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future

from casebase import releases
from casebase.arms import ADAPTER, ArmModels, check_adapters, check_arm, uses_rag
from casebase.evaluate.config import EvaluateConfig
from casebase.serve.config import ServeConfig
from casebase.serve.explain import attribute, similarity_in
from casebase.llm.answer import TokenBudget, build_messages, parse_answer
from casebase.progress import log
from casebase.stale import arm_staleness
from casebase.text import problem_text
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


def workspace_redactor(ws: Workspace, corpus: list[str], languages: str | None = None):
    """The ingest redactor with this workspace's key and settings (ingest.json): pasted tickets are
    redacted like the export (names that are plain words of the case base, such as a product called
    Sage, are kept); ``languages`` ("en,de") overrides the workspace's."""
    from casebase.ingest.redact import RedactConfig, build_redactor
    from casebase.ingest.run import workspace_key

    manifest = ws.read_manifest("ingest") or {}
    saved = dict((manifest.get("config") or {}).get("redact") or {})
    used = saved.get("languages_used") or (manifest.get("redaction") or {}).get("languages")  # what ingest ran with
    if used:
        saved["languages"] = used
    config = RedactConfig(**{k: v for k, v in saved.items() if k in RedactConfig.model_fields})
    if languages:
        config = config.model_copy(update={"languages": RedactConfig.from_flags(languages).languages})
    return build_redactor(corpus=corpus, key=workspace_key(ws), config=config)


def _default(field: str) -> int:
    return EvaluateConfig.model_fields[field].default


def resolve_served(ws: Workspace, arm: str | None = None, llm: str | None = None, k: int | None = None,
                   max_new_tokens: int | None = None, release: str | None = None) -> dict:
    """What a server over ``ws`` serves, decided and checked before anything is loaded: ``{"arm", "reason", "llm",
    "k", "max_new_tokens", "release", "source"}`` (``release``: the release's record, None for an ad hoc ``arm`` or
    retrieval only for want of one). A release that cannot be served exactly as it was measured is a CasebaseError
    naming the fix. ``Suggester`` starts here; so does ``casebase serve --workers N``, once, before its workers."""
    found, source = None, None
    if arm is not None:
        check_arm(arm)
        reason = "set by --arm (ad hoc: not a release)"
    else:
        found = releases.find(ws, release or "latest")
        if found is None:
            trials = [r["name"] for r in releases.all_releases(ws) if r.get("status") == "trial"]
            arm, reason = "retrieval", "no release yet: retrieval only (`casebase evaluate` makes one" + (
                f"; trial releases, served only by name: {', '.join(trials)})" if trials else ")")
        else:
            releases.check(ws, found, llm=llm, k=k, max_new_tokens=max_new_tokens)
            arm, llm, k, max_new_tokens = found["arm"], found.get("llm"), found["k"], found["max_new_tokens"]
            reason, source = releases.describe(found), ws.release(found["name"])
    return {"arm": arm, "reason": reason, "llm": llm, "k": k, "max_new_tokens": max_new_tokens, "release": found,
            "source": source}


class Suggester:
    def __init__(self, ws: Workspace, arm: str | None = None, llm: str | None = None, k: int | None = None,
                 max_new_tokens: int | None = None, batch_size: int | None = None, languages: str | None = None,
                 release: str | None = None):
        from casebase.retrieve import load_index

        served = resolve_served(ws, arm=arm, llm=llm, k=k, max_new_tokens=max_new_tokens, release=release)
        arm, reason, llm, k, max_new_tokens = (served[f] for f in ("arm", "reason", "llm", "k", "max_new_tokens"))
        self.release, source = served["release"], served["source"]
        self.ws, self.llm_spec, self.languages = ws, llm, languages
        self.k = k or _default("k")
        self.max_new_tokens = max_new_tokens or _default("max_new_tokens")
        self._redactor = None
        self.index = load_index(ws)
        self.lock = threading.Lock()  # the index is swapped when cases are retained
        check_adapters(ws, [arm])  # an adapter out of step with its manifest (a killed train) says re-run
        self.arm, self.reason = arm, reason
        self.stale = arm_staleness(ws, ADAPTER.get(arm), str(source) if source else None)
        if self.stale:  # still served (the index no longer holds the erased cases), but say so
            logging.getLogger("casebase.serve").warning("warning: arm %s is stale (%s): %s", arm,
                                                        self.stale["reason"], self.stale["fix"])
        self.batch_size = batch_size or ServeConfig.model_fields["batch_size"].default
        self.models = ArmModels(ws, llm, self.batch_size)  # one base model in memory, every adapter loaded onto it
        self._generators: dict[str, tuple[Batcher, TokenBudget, str]] = {}  # arm -> (batcher, budget, model name)
        self._loading = threading.Lock()  # two first requests for an arm load it once
        self.model_name = "retrieval only" if arm == "retrieval" else None
        self._searcher = Batcher(self._search_batch, batch_size=32, wait_s=0.0, name="search")

    def _generator(self, arm: str) -> tuple[Batcher, TokenBudget, str]:
        """The arm's model, loaded on first use (once per process and arm). The release's arm is checked against
        the release again once its weights are loaded: an adapter retrained after the server started is refused,
        never served under the old release's name."""
        with self._loading:
            return self._load_generator(arm)

    def _load_generator(self, arm: str) -> tuple[Batcher, TokenBudget, str]:
        if arm not in self._generators:
            llm, max_length = self.models.get(arm)
            if self.release is not None and arm == self.arm:
                releases.check(self.ws, self.release)
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
        """Load the query encoder, the redactor's model and the served arm's model now (a server's first request
        should not pay, and the release's weights are checked as they are loaded)."""
        self.index.search_many(["warm up"], k=1)
        self.redactor.load()
        if self.arm != "retrieval":
            self._generator(self.arm)

    def search(self, text: str, k: int | None = None, mode: str = "hybrid"):
        """One search; concurrent ones share a batch (one embedding pass) through the search batcher."""
        return self._searcher.submit((text, k or self.k, mode)).result(timeout=120)

    def similarity(self, cosine: float | None) -> dict:
        """A dense cosine as the page shows it: close / related / weak, and its percentage of the index's
        calibrated abstain threshold (``explain.similarity``)."""
        return similarity_in(self.current_index(), cosine)

    def current_index(self):
        """The index as it stands: cases another process retained join within a second, and a rebuilt or forgotten
        index is loaded again. Every reader of the index (search, case lookup, /healthz, retain) goes through it."""
        with self.lock:
            self.index = self.index.current()
            return self.index

    def _search_batch(self, items: list[tuple[str, int, str]]) -> list:
        index = self.current_index()
        hits: list = [None] * len(items)
        for mode in dict.fromkeys(m for _, _, m in items):  # one search_many per mode asked for (hybrid, mostly)
            rows = [i for i, item in enumerate(items) if item[2] == mode]
            found = index.search_many([items[i][0] for i in rows], k=max(items[i][1] for i in rows), mode=mode)
            for i, hit in zip(rows, found):
                hit.results = hit.results[:items[i][1]]
                hits[i] = hit
        return hits

    def suggest(self, subject: str | None, body: str, arm: str | None = None) -> dict:
        """The answer the API, CLI and page show; ``arm="retrieval"`` skips generation for this request."""
        t0 = time.perf_counter()
        arm = arm or self.arm
        problem = problem_text(subject, body)
        hit = self.search(problem)
        if hit.abstained:  # no draft: show the cases nearest in meaning, the one the threshold was measured on first
            hit.results = self.search(problem, mode="dense").results
        t_search = time.perf_counter() - t0
        # score: the RRF fusion score (it orders results and means nothing to a person); similarity: the dense
        # cosine as a label and a percentage of the abstain threshold (casebase.serve.explain)
        cited = [{k: r[k] for k in ("case_id", "score", "dense_score", "problem", "solution", "category", "urgency")}
                 | {"similarity": self.similarity(r["dense_score"])} for r in hit.results]
        triage = {f: {"value": hit.triage[f]["value"], "confidence": hit.triage[f]["confidence"], "source": "neighbours"}
                  for f in ("category", "urgency")}
        answer = {"problem": problem, "arm": arm, "abstained": hit.abstained, "best_similarity": hit.best_similarity,
                  "threshold": hit.threshold, "similarity": self.similarity(hit.best_similarity),
                  "cited_cases": cited, "solution": None, "parsed": None,
                  "category": triage["category"], "urgency": triage["urgency"],
                  "model": "retrieval only" if arm == "retrieval" else None,
                  "prompt_messages": None}  # the exact messages the model was given (stored for export-feedback)
        if hit.abstained:
            answer["note"] = "no similar past case: no draft was generated"
        elif arm == "retrieval":
            answer["solution"] = cited[0]["solution"] if cited else None
        else:
            check_arm(arm, "arm")
            batcher, budget, model_name = self._generator(arm)  # the arm asked for, not the server's
            messages = build_messages(problem, cited if uses_rag(arm) else [], budget)
            reply = batcher.submit(messages).result(timeout=600)
            parsed = parse_answer(reply)
            answer.update(solution=parsed.solution if parsed else reply.strip(), parsed=parsed is not None,
                          model=model_name, prompt_messages=messages)
            for field in ("category", "urgency"):
                value = getattr(parsed, field) if parsed else None
                if value:
                    agrees = value == triage[field]["value"]
                    answer[field] = {"value": value, "confidence": triage[field]["confidence"] if agrees else None,
                                     "source": "model", "neighbours": triage[field]["value"]}
        # which cited case each sentence of the draft comes from, found after generation (the prompt is untouched)
        answer["attribution"] = attribute(answer["solution"], cited)
        answer["timings_ms"] = {"search": round(1000 * t_search, 1), "total": round(1000 * (time.perf_counter() - t0), 1)}
        return answer

    def retain(self, case: dict, agent: str | None = None) -> dict:
        """Add a resolved case: appended to cases-retained.jsonl and the index's segment (only it is embedded, the
        main index untouched), searchable at once here and within a second in every server over this workspace.
        An id the index holds is a ``DuplicateCase`` (a CasebaseError)."""
        from casebase.retrieve.retained import StaleIndex, append_cases

        for attempt in (1, 2):  # a rebuild between the load and the append: load the new index, append there
            index = self.current_index()
            try:
                cases = append_cases(index, [case], agent=agent)
                break
            except StaleIndex:
                if attempt == 2:
                    raise
        return {"case_id": case["ticket_id"], "cases": cases}

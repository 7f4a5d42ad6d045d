"""The HTTP API and the agents' web page: ``casebase serve``.

    casebase serve --workspace ws                      # http://127.0.0.1:8000/ (page), /docs (OpenAPI)
    CASEBASE_TOKEN=... casebase serve --host 0.0.0.0   # beyond loopback only with a strong token

Endpoints: POST /api/suggest, GET /api/search, GET /api/cases/{id}, POST /api/feedback,
POST /api/cases, GET /api/suggestions/{id}, GET /api/insights, GET /healthz; pages / (agents) and /insights.
Every 4xx/5xx answers ``{"error": {"status", "code", "message"}}`` and never a stack trace. With ``CASEBASE_TOKEN`` (or ``CASEBASE_TOKENS_FILE``) set, every route but the
pages, their static files and /healthz needs ``Authorization: Bearer <token>``, the OpenAPI schema and
/docs included (casebase/serve/security.py). Requests naming another Host are refused (DNS rebinding);
bodies over ``max_body_bytes`` are refused (413) while they arrive, after the token check.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.exceptions import HTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware

from casebase import __version__
from casebase.errors import CasebaseError, UpstreamError
from casebase.retrieve.retained import DuplicateCase, StaleIndex
from casebase.retrieve.config import SEARCH_K
from casebase.config import resolve
from casebase.serve.config import ServeConfig
from casebase.serve.engine import Suggester
from casebase.serve.insights import INSIGHT_DAYS, MISSING_TOP, insights
from casebase.serve.security import BodyLimit, SecurityHeaders, TokenGate, Tokens, allowed_hosts
from casebase.serve.store import Store
from casebase.workspace import Workspace

STATIC = Path(__file__).parent / "static"
MAX_TEXT = 20_000
logger = logging.getLogger("casebase.serve")


class SuggestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subject: str = Field("", max_length=500, description="Ticket subject (may be empty).")
    body: str = Field(..., min_length=1, max_length=MAX_TEXT, description="The customer's message.")
    arm: Literal["retrieval"] | None = Field(None, description="retrieval: no generation for this request.")


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    suggestion_id: str = Field(..., min_length=1, max_length=64)
    verdict: Literal["accepted", "edited", "rejected"]
    final_text: str | None = Field(None, max_length=MAX_TEXT, description="The answer the agent sent (edited).")
    retain: bool = Field(False, description="Also add the ticket and its final answer (the edited text, else the "
                                            "draft) to the case base, searchable at once; accepted or edited only.")
    case_id: str | None = Field(None, min_length=1, max_length=200,
                                description="The retained case's id [default: fb-<suggestion_id>]; rules as "
                                            "POST /api/cases' ticket_id.")

    @field_validator("case_id")
    @classmethod
    def _usable_case_id(cls, value: str | None) -> str | None:
        return None if value is None else CaseIn._usable_id(value)


class CaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ticket_id: str = Field(..., min_length=1, max_length=200,
                           description="The ticket's id: not blank, no '/' or control characters (it names the case "
                                       "in GET /api/cases/{id}); surrounding spaces are dropped.")
    subject: str = Field("", max_length=500)
    body: str = Field(..., min_length=1, max_length=MAX_TEXT, description="The customer's first message.")
    solution: str = Field(..., min_length=1, max_length=MAX_TEXT, description="What resolved it.")
    category: str | None = Field(None, max_length=200)
    urgency: str | None = Field(None, max_length=50)

    @field_validator("ticket_id")
    @classmethod
    def _usable_id(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("blank: give the ticket's id")
        if "/" in value or "\\" in value or any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise ValueError(f"{value!r} holds '/', '\\' or a control character: use the helpdesk's id without them")
        return value


class ApiError(HTTPException):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(status, message)
        self.code = code


def error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"status": status, "code": code, "message": message}}, status_code=status)


def create_app(ws: Workspace, arm: str | None = None, llm: str | None = None, token: str | None = None,
               languages: str | None = None, max_body_bytes: int | None = None, engine: Suggester | None = None,
               tokens_file: str | Path | None = None, host: str | None = None, allowed_host: list[str] | None = None,
               read_timeout_s: float | None = None, release: str | None = None,
               config: ServeConfig | None = None) -> FastAPI:
    """The FastAPI app over one workspace. Settings: ``config`` (ServeConfig), the keyword arguments given
    overriding it; ``token`` defaults to $CASEBASE_TOKEN, ``tokens_file`` to $CASEBASE_TOKENS_FILE; ``host`` and
    ``allowed_host`` set the Host allow-list (security.allowed_hosts)."""
    given = {"arm": arm, "llm": llm, "max_body_bytes": max_body_bytes, "tokens_file": tokens_file, "host": host,
             "allowed_host": allowed_host, "read_timeout_s": read_timeout_s, "release": release}
    cfg = resolve(ServeConfig, config, {k: v for k, v in given.items() if v is not None}, "serve")
    arm, llm, max_body_bytes, tokens_file = cfg.arm, cfg.llm, cfg.max_body_bytes, cfg.tokens_file
    host, allowed_host, read_timeout_s = cfg.host, cfg.allowed_host, cfg.read_timeout_s
    token = (os.environ.get("CASEBASE_TOKEN") if token is None else token) or None  # "" means no token
    tokens = Tokens.load(token, tokens_file if tokens_file is not None else os.environ.get("CASEBASE_TOKENS_FILE") or None)
    engine = engine or Suggester(ws, arm=arm, llm=llm, k=cfg.k, max_new_tokens=cfg.max_new_tokens,
                                 batch_size=cfg.batch_size, languages=languages, release=cfg.release)
    store = Store(ws.db)
    redactor = engine.redactor
    retaining = threading.Lock()  # one retain at a time: a race on one id gives one 201, then 409s
    app = FastAPI(title="casebase", version=__version__,
                  description="Suggestions for support agents from the case base of past tickets. With a token "
                              "configured, every route but /, /static and /healthz needs `Authorization: Bearer <token>`.")
    app.state.engine, app.state.store, app.state.tokens = engine, store, tokens
    hosts = allowed_hosts(host, allowed_host)
    app.state.allowed_hosts = hosts
    # add_middleware wraps: the last added runs first (headers > Host > token > body > app)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes, timeout_s=read_timeout_s)
    app.add_middleware(TokenGate, tokens=tokens)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=["*"] if "*" in hosts else hosts, www_redirect=False)
    app.add_middleware(SecurityHeaders)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        code = getattr(exc, "code", None) or {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "error")
        return error(exc.status_code, code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        def where(loc) -> str:  # ("body", "ticket_id") -> "ticket_id"; ("body",) -> "request body"
            loc = list(loc)[1:] if loc and loc[0] in ("body", "query", "path") else list(loc)
            return ".".join(map(str, loc)) or "request body"

        problems = "; ".join(f"{where(e['loc'])}: {e['msg']}" for e in exc.errors())
        return error(422, "invalid_request", problems or "invalid request")

    @app.exception_handler(UpstreamError)
    async def upstream_error(request: Request, exc: UpstreamError):  # the model server failed, not the request
        return error(502, "upstream_error", str(exc))

    @app.exception_handler(CasebaseError)
    async def casebase_error(request: Request, exc: CasebaseError):
        return error(400, "bad_request", str(exc))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception):
        logger.exception("unhandled error on %s", request.url.path)
        return error(500, "internal", "internal error; the server log has the details")

    @app.get("/healthz")
    def healthz() -> dict:
        stale = getattr(engine, "stale", None)  # set when `casebase forget` erased tickets the arm was built on
        return {"status": "ok", "version": __version__, "cases": len(engine.current_index()), "arm": engine.arm,
                "arm_reason": engine.reason, "auth": tokens.required, "stale": stale is not None,
                "stale_reason": stale["reason"] if stale else None, "release": _release_summary(engine),
                "encoder": _encoder_summary(engine)}

    @app.post("/api/suggest")
    def suggest(payload: SuggestIn) -> dict:
        subject, body, redacted = engine.redact_ticket(payload.subject, payload.body)
        answer = engine.suggest(subject, body, arm=payload.arm)
        prompt = answer.pop("prompt_messages", None)  # kept in casebase.db for export-feedback, not sent to the page
        answer["redacted"] = redacted  # what the pasted ticket held, by type (stored with the suggestion)
        answer["id"] = store.add_suggestion(subject, body, answer["problem"], answer, prompt_messages=prompt)
        return answer

    @app.get("/api/search")
    def search(q: str, k: int = SEARCH_K) -> dict:
        if not q.strip() or len(q) > MAX_TEXT:
            raise ApiError(422, "invalid_request", f"q: give 1 to {MAX_TEXT} characters")
        if not 1 <= k <= 50:
            raise ApiError(422, "invalid_request", "k: between 1 and 50")
        hit = engine.search(redactor.redact(q)[0], k=k)
        results = [r | {"similarity": engine.similarity(r.get("dense_score"))} for r in hit.results]  # a plain label
        return {"query": hit.query, "abstained": hit.abstained, "best_similarity": hit.best_similarity,
                "threshold": hit.threshold, "similarity": engine.similarity(hit.best_similarity), "results": results,
                "triage": hit.triage}

    @app.get("/api/cases/{case_id:path}")  # ids from an export may hold '/' (CS/2024/001)
    def case(case_id: str) -> dict:
        index = engine.current_index()  # a case `casebase forget` erased is gone within a second
        row = index._row.get(case_id)
        if row is None:
            raise ApiError(404, "not_found", f"no case {case_id!r} in the index")
        return index._records[row]

    @app.post("/api/feedback")
    def feedback(payload: FeedbackIn, request: Request) -> dict:
        suggestion = store.suggestion(payload.suggestion_id)
        if suggestion is None:
            raise ApiError(404, "not_found", f"no suggestion {payload.suggestion_id!r}")
        if payload.verdict == "edited" and not (payload.final_text or "").strip():
            raise ApiError(422, "invalid_request", "final_text: required when the verdict is edited")
        if payload.verdict == "rejected" and (payload.retain or payload.case_id):
            raise ApiError(422, "invalid_request", "retain: only an accepted or edited answer can be retained")
        final = redactor.redact(payload.final_text)[0] if payload.final_text else None
        agent = request.scope.get("state", {}).get("agent")
        # retained first: a refused case (409, 422) records no feedback, so the request can be sent again
        retained = retain_case(feedback_case(suggestion, payload), agent) if payload.retain else None
        answer = {"id": store.add_feedback(payload.suggestion_id, payload.verdict, final, agent=agent), "status": "recorded"}
        return answer | ({"retained": retained} if retained else {})

    def feedback_case(suggestion: dict, payload: FeedbackIn) -> dict:
        """The case a retained feedback adds: the stored (redacted) ticket, the final answer cleaned and redacted as
        POST /api/cases does (the edited text, else the draft), the answer's category and urgency."""
        from casebase.ingest.clean import clean_text
        from casebase.text import SOLUTION_WORDS, condense

        response = suggestion["response"]
        text = payload.final_text if payload.verdict == "edited" else response.get("solution")
        solution = condense(redactor.redact(clean_text(text or ""))[0], SOLUTION_WORDS) if (text or "").strip() else ""
        if not solution.strip():
            raise ApiError(422, "invalid_request", "retain: the answer has no text to keep (an abstained suggestion, "
                                                   "or all markup); send verdict edited with final_text")
        return {"ticket_id": payload.case_id or f"fb-{suggestion['id']}", "opened_at": "", "problem": suggestion["problem"],
                "solution": solution, "category": (response.get("category") or {}).get("value"),
                "urgency": (response.get("urgency") or {}).get("value")}

    def retain_case(case: dict, agent: str | None) -> dict:
        """Add ``case`` to the index and casebase.db, one at a time; an id already in either is a 409."""
        with retaining:
            if case["ticket_id"] in engine.current_index()._row:
                raise ApiError(409, "conflict", f"case {case['ticket_id']!r} is already in the index")
            if store.retained(case["ticket_id"]):
                raise ApiError(409, "conflict", f"case {case['ticket_id']!r} was retained before (casebase.db); "
                                                "give the new case its own ticket id")
            try:
                result = engine.retain(case, agent=agent)
            except DuplicateCase as err:  # retained by another server process over this workspace
                raise ApiError(409, "conflict", str(err)) from None
            except StaleIndex:  # `casebase index` is rebuilding it: nothing was written, the client may retry
                raise ApiError(503, "unavailable", "the index is being rebuilt: retry in a few seconds") from None
            store.retain(case, agent=agent)
        return {**result, "case": case}

    @app.post("/api/cases", status_code=201)
    def add_case(payload: CaseIn, request: Request) -> dict:
        from casebase.text import SOLUTION_WORDS, condense
        from casebase.ingest.clean import clean_text

        subject = redactor.redact(clean_text(payload.subject))[0]
        body = redactor.redact(clean_text(payload.body))[0]
        solution = redactor.redact(clean_text(payload.solution))[0]
        from casebase.text import problem_text

        case = {"ticket_id": payload.ticket_id, "opened_at": "", "problem": problem_text(subject, body),
                "solution": condense(solution, SOLUTION_WORDS), "category": payload.category,
                "urgency": payload.urgency}
        for name, text in (("body", case["problem"]), ("solution", case["solution"])):
            if not (text or "").strip():
                raise ApiError(422, "invalid_request", f"{name}: no text is left once it is cleaned (markup, "
                                                       "quotes and signatures removed): give the case's own words")
        return retain_case(case, request.scope.get("state", {}).get("agent"))

    @app.get("/api/suggestions/{suggestion_id}")
    def suggestion(suggestion_id: str) -> dict:
        """A stored suggestion as /api/suggest answered it, with the feedback given on it (the page's history)."""
        found = store.suggestion(suggestion_id)
        if found is None:
            raise ApiError(404, "not_found", f"no suggestion {suggestion_id!r}")
        return {**found["response"], "id": found["id"], "created_at": found["created_at"],
                "subject": found["subject"], "body": found["body"], "feedback": store.feedback_of(suggestion_id)}

    @app.get("/api/insights")
    def insights_data(days: int = INSIGHT_DAYS, top: int = MISSING_TOP) -> dict:
        if not 1 <= days <= 366:
            raise ApiError(422, "invalid_request", "days: between 1 and 366")
        if not 1 <= top <= 100:
            raise ApiError(422, "invalid_request", "top: between 1 and 100")
        return insights(store, days=days, top=top)

    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(STATIC / "index.html")

    @app.get("/insights", include_in_schema=False)
    def insights_page():  # the page holds no data: it reads /api/insights with the token (PUBLIC_PATHS)
        return FileResponse(STATIC / "insights.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def _encoder_summary(engine) -> dict:
    """How queries and the indexed cases are encoded (torch, onnx-fp32, onnx-int8) and the query token budget; not
    the model's name, which may be a local path."""
    found = engine.current_index().encoders()
    return {"queries": found["queries"], "cases": found["cases"], "query_tokens": found["query_tokens"]}


def _release_summary(engine) -> dict | None:
    """What /healthz says of the release served (None: an ad hoc --arm, or retrieval only for want of one)."""
    rel = getattr(engine, "release", None)
    if not rel:
        return None
    return {f: rel.get(f) for f in ("name", "status", "trial_because", "arm", "llm", "k", "max_new_tokens",
                                     "token_budget", "prompt_version", "tickets", "metric", "eval_run", "created_at")}


def check_bind(host: str, token: str | None, tokens_file: str | Path | None = None) -> None:
    """Refuse to listen beyond loopback without a strong token (security.Tokens.check_bind)."""
    Tokens.load(token, tokens_file).check_bind(host)

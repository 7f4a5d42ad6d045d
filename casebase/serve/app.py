"""The HTTP API and the agents' web page: ``casebase serve``.

    casebase serve --workspace ws                      # http://127.0.0.1:8000/ (page), /docs (OpenAPI)
    CASEBASE_TOKEN=... casebase serve --host 0.0.0.0   # beyond loopback only with a token

Endpoints: POST /api/suggest, GET /api/search, GET /api/cases/{id}, POST /api/feedback,
POST /api/cases, GET /healthz. Every 4xx/5xx answers ``{"error": {"status", "code", "message"}}``
and never a stack trace. With ``CASEBASE_TOKEN`` set, every POST needs ``Authorization: Bearer
<token>``. Bodies over ``max_body_bytes`` are refused (413) before they are read in full.
"""

from __future__ import annotations

import hmac
import logging
import os
from pathlib import Path
from typing import Literal

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from casebase import __version__
from casebase.errors import CasebaseError
from casebase.serve.engine import Suggester
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


class CaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ticket_id: str = Field(..., min_length=1, max_length=200)
    subject: str = Field("", max_length=500)
    body: str = Field(..., min_length=1, max_length=MAX_TEXT, description="The customer's first message.")
    solution: str = Field(..., min_length=1, max_length=MAX_TEXT, description="What resolved it.")
    category: str | None = Field(None, max_length=200)
    urgency: str | None = Field(None, max_length=50)


class ApiError(HTTPException):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(status, message)
        self.code = code


def error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"status": status, "code": code, "message": message}}, status_code=status)


def create_app(ws: Workspace, arm: str | None = None, llm: str | None = None, token: str | None = None,
               languages: str | None = None,
               max_body_bytes: int = 64_000, engine: Suggester | None = None) -> FastAPI:
    """The FastAPI app over one workspace; ``token`` defaults to $CASEBASE_TOKEN."""
    token = (os.environ.get("CASEBASE_TOKEN") if token is None else token) or None  # "" means no token
    engine = engine or Suggester(ws, arm=arm, llm=llm, languages=languages)
    store = Store(ws.root / "casebase.db")
    redactor = engine.redactor
    app = FastAPI(title="casebase", version=__version__,
                  description="Suggestions for support agents from the case base of past tickets.")
    app.state.engine, app.state.store = engine, store

    @app.middleware("http")
    async def limit_body(request: Request, call_next):
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > max_body_bytes):
            return error(413, "too_large", f"request body over {max_body_bytes} bytes")
        if request.method == "POST" and length is None:
            body = await request.body()
            if len(body) > max_body_bytes:
                return error(413, "too_large", f"request body over {max_body_bytes} bytes")
        return await call_next(request)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        code = getattr(exc, "code", None) or {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "error")
        return error(exc.status_code, code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'] if p != 'body')}: {e['msg']}" for e in exc.errors())
        return error(422, "invalid_request", problems or "invalid request")

    @app.exception_handler(CasebaseError)
    async def casebase_error(request: Request, exc: CasebaseError):
        return error(400, "bad_request", str(exc))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception):
        logger.exception("unhandled error on %s", request.url.path)
        return error(500, "internal", "internal error; the server log has the details")

    def require_token(request: Request) -> None:
        if token is None:
            return
        given = request.headers.get("authorization", "")
        if not (given.startswith("Bearer ") and hmac.compare_digest(given[7:], token)):
            raise ApiError(401, "unauthorized", "missing or wrong bearer token (Authorization: Bearer $CASEBASE_TOKEN)")

    @app.get("/healthz")
    def healthz() -> dict:
        stale = getattr(engine, "stale", None)  # set when `casebase forget` erased tickets the arm was built on
        return {"status": "ok", "version": __version__, "cases": len(engine.index), "arm": engine.arm,
                "arm_reason": engine.reason, "auth": token is not None, "stale": stale is not None,
                "stale_reason": stale["reason"] if stale else None}

    @app.post("/api/suggest", dependencies=[Depends(require_token)])
    def suggest(payload: SuggestIn) -> dict:
        subject, body, redacted = engine.redact_ticket(payload.subject, payload.body)
        answer = engine.suggest(subject, body, arm=payload.arm)
        answer["redacted"] = redacted  # what the pasted ticket held, by type (stored with the suggestion)
        answer["id"] = store.add_suggestion(subject, body, answer["problem"], answer)
        return answer

    @app.get("/api/search")
    def search(q: str, k: int = 5) -> dict:
        if not q.strip() or len(q) > MAX_TEXT:
            raise ApiError(422, "invalid_request", f"q: give 1 to {MAX_TEXT} characters")
        if not 1 <= k <= 50:
            raise ApiError(422, "invalid_request", "k: between 1 and 50")
        hit = engine.search(redactor.redact(q)[0], k=k)
        return {"query": hit.query, "abstained": hit.abstained, "results": hit.results, "triage": hit.triage}

    @app.get("/api/cases/{case_id}")
    def case(case_id: str) -> dict:
        index = engine.index
        row = index._row.get(case_id)
        if row is None:
            raise ApiError(404, "not_found", f"no case {case_id!r} in the index")
        return index._records[row]

    @app.post("/api/feedback", dependencies=[Depends(require_token)])
    def feedback(payload: FeedbackIn) -> dict:
        if store.suggestion(payload.suggestion_id) is None:
            raise ApiError(404, "not_found", f"no suggestion {payload.suggestion_id!r}")
        if payload.verdict == "edited" and not (payload.final_text or "").strip():
            raise ApiError(422, "invalid_request", "final_text: required when the verdict is edited")
        final = redactor.redact(payload.final_text)[0] if payload.final_text else None
        return {"id": store.add_feedback(payload.suggestion_id, payload.verdict, final), "status": "recorded"}

    @app.post("/api/cases", dependencies=[Depends(require_token)], status_code=201)
    def add_case(payload: CaseIn) -> dict:
        from casebase.extract.heuristic import SOLUTION_WORDS, condense
        from casebase.ingest.clean import clean_text

        if payload.ticket_id in engine.index._row:
            raise ApiError(409, "conflict", f"case {payload.ticket_id!r} is already in the index")
        subject = redactor.redact(clean_text(payload.subject))[0]
        body = redactor.redact(clean_text(payload.body))[0]
        solution = redactor.redact(clean_text(payload.solution))[0]
        from casebase.extract.heuristic import problem_text

        case = {"ticket_id": payload.ticket_id, "opened_at": "", "problem": problem_text(subject, body),
                "solution": condense(solution, SOLUTION_WORDS), "category": payload.category,
                "urgency": payload.urgency}
        result = engine.retain(case)
        store.retain(case)
        return {**result, "case": case}

    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def check_bind(host: str, token: str | None) -> None:
    if host not in LOOPBACK and not token:
        raise CasebaseError(f"refusing to listen on {host} without a token: set CASEBASE_TOKEN (write endpoints then "
                            f"need 'Authorization: Bearer <token>'), or serve on 127.0.0.1")

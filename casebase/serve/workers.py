"""Several server processes on one port: ``casebase serve --workers N``.

    casebase serve --workspace ws --workers 2      # two processes answer on http://127.0.0.1:8000/

The parent checks once what every worker would refuse (``preflight``: the release, the index, the adapters),
creates casebase.db (schema, WAL mode) so the workers never race to, binds the port, and hands the socket to
uvicorn, which spawns N worker processes: fresh interpreters, not forks, so torch and its thread pools are never
copied half-started. Each worker calls ``worker_app()``: it builds the app (``create_app``: the token guard, Host
check and body limits included), loads and warms the index and the query encoder once, and accepts connections
from the shared socket; the kernel spreads connections between the workers. A connection stays with the worker
that accepted it (HTTP keep-alive).

What workers share lives in the workspace, so nothing else needs coordinating: casebase.db (SQLite in WAL mode
with a busy timeout: concurrent writes wait their turn instead of failing with "database is locked") and the
retained cases (``casebase.retrieve.retained``: a case retained through one worker is found by every other within
a second, through the index generation each worker reads before a search).

The machine's cores are split between the workers (``OMP_NUM_THREADS`` unless it is set): N workers that each
start one thread per core would fight over the cores. A worker that cannot start writes why into a file the
parent reads, and stops the parent: one clear error, not a restart loop. A worker whose parent is gone (kill -9)
stops itself within a second.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

from casebase.errors import CasebaseError
from casebase.serve.config import ServeConfig
from casebase.workspace import Workspace

# Internal: how the parent hands a worker its settings (JSON: workspace, ServeConfig, languages, parent pid, the
# file a failed start writes to). Spawned workers inherit the parent's environment; nothing else reaches them.
WORKER_ENV = "CASEBASE_SERVE_WORKER"
# uvicorn's settings for one server process, with one worker or many.
UVICORN = {"log_level": "warning", "timeout_keep_alive": 5, "limit_concurrency": 256,
           "h11_max_incomplete_event_size": 32_768}
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")  # torch's intra-op threads (and MKL's, where it is used)
PARENT_POLL_S = 0.25
logger = logging.getLogger("casebase.serve")


def cores() -> int:
    """The cores this process may run on (its CPU affinity where the system has one, e.g. in a container)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        return os.cpu_count() or 1


def threads_per_worker(workers: int) -> int:
    """Each worker's torch threads: ``OMP_NUM_THREADS`` where it is set, else the cores split between the workers.
    (Two workers of two threads each on two cores encoded 13 queries/s together; of one thread each, 37.)"""
    given = os.environ.get("OMP_NUM_THREADS", "")
    return int(given) if given.isdigit() and int(given) > 0 else max(1, cores() // workers)


def preflight(ws: Workspace, cfg: ServeConfig, languages: str | None = None) -> dict:
    """What a worker would refuse, checked once in the parent before any worker starts (a CasebaseError naming the
    fix); returns what is served (``engine.resolve_served``). Also creates casebase.db (schema, WAL mode)."""
    from casebase.arms import check_adapters
    from casebase.ingest.redact import RedactConfig
    from casebase.retrieve.index import verify_index
    from casebase.serve.engine import resolve_served
    from casebase.serve.store import Store

    if languages:
        RedactConfig.from_flags(languages)
    served = resolve_served(ws, arm=cfg.arm, llm=cfg.llm, k=cfg.k, max_new_tokens=cfg.max_new_tokens,
                            release=cfg.release)
    verify_index(ws)
    check_adapters(ws, [served["arm"]])
    Store(ws.db)  # the schema and WAL mode, once: N workers opening a new database at once would race
    return served


def run_workers(ws: Workspace, cfg: ServeConfig, languages: str | None, sock: socket.socket) -> None:
    """Serve with ``cfg.workers`` processes on the bound ``sock`` (``security.bind_socket``) until Ctrl+C or SIGTERM
    (then every worker stops too). Call ``preflight`` first. A worker that failed to start is a CasebaseError here,
    with its reason.

    uvicorn's own supervisor runs the workers, but on this socket: asyncio turns Nagle off (TCP_NODELAY) only on
    connections of a socket made for IPPROTO_TCP, as ``bind_socket``'s is. The socket ``uvicorn.run(workers=N)``
    binds (protocol 0), or one handed over with ``fd=`` (taken for a Unix socket), leaves Nagle on, and every
    response, written in two parts, then waited 40 ms for the client's delayed ACK (measured: 45 ms a request
    against 4 ms)."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    threads = threads_per_worker(cfg.workers)
    for var in THREAD_VARS:  # spawned workers inherit the environment; torch reads it as it starts
        os.environ.setdefault(var, str(threads))
    with tempfile.TemporaryDirectory(prefix="casebase-serve-") as tmp:
        failure = Path(tmp) / "worker-failed.txt"
        os.environ[WORKER_ENV] = json.dumps({"workspace": str(Path(ws.root).resolve()),
                                             "config": cfg.model_dump(mode="json"), "languages": languages,
                                             "parent": os.getpid(), "failure": str(failure)})
        config = uvicorn.Config(f"{__name__}:worker_app", factory=True, workers=cfg.workers, **UVICORN)
        try:
            try:
                supervisor = Multiprocess(config, sockets=[sock])
            except TypeError:  # older uvicorn: it also wants the function each worker runs
                supervisor = Multiprocess(config, target=uvicorn.Server(config).run, sockets=[sock])
            supervisor.run()
        finally:
            os.environ.pop(WORKER_ENV, None)
        if failure.exists():
            raise CasebaseError(failure.read_text(encoding="utf-8").strip())


def worker_app():
    """The app of one worker process (uvicorn calls it in each worker: ``factory=True``), from the settings the
    parent left in ``CASEBASE_SERVE_WORKER``; the index, the encoder and the served arm are loaded before it
    accepts a connection."""
    from casebase.serve.app import create_app

    settings = json.loads(os.environ[WORKER_ENV])
    watch_parent(settings["parent"])
    try:
        cfg = ServeConfig.model_validate(settings["config"])
        app = create_app(Workspace.at(Path(settings["workspace"]), create=False), config=cfg,
                         languages=settings["languages"])
        app.state.engine.warm()
        return app
    except Exception as err:  # noqa: BLE001 - any failure to start must stop the server, not loop on restarts
        if not isinstance(err, CasebaseError):
            logger.exception("worker %d failed to start", os.getpid())
        fail_start(settings, f"a worker could not start: {err}" if isinstance(err, CasebaseError) else
                   f"a worker could not start ({type(err).__name__}: {err}); the log above has the details")


def fail_start(settings: dict, message: str) -> None:
    """Record why this worker could not start (the first failure wins), stop the parent and exit."""
    from uvicorn.config import STARTUP_FAILURE

    try:
        fd = os.open(settings["failure"], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(message)
    except FileExistsError:
        pass  # another worker said it first
    try:
        os.kill(settings["parent"], signal.SIGTERM)  # the parent stops every worker, then reports the failure
    except ProcessLookupError:
        pass
    sys.exit(STARTUP_FAILURE)


def watch_parent(parent: int) -> None:
    """Stop this worker once its parent is gone (after a kill -9 nobody else would): SIGTERM to itself, so uvicorn
    finishes the requests in flight, then a hard exit if that has not ended it within 5 s."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_S)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="casebase-parent-watch").start()

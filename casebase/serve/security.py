"""What stands between the network and the case base: tokens, the Host allow-list, body limits, headers.

    tokens = Tokens.load(token="…", tokens_file=Path("tokens.toml"))   # $CASEBASE_TOKEN, $CASEBASE_TOKENS_FILE
    tokens.who("Bearer …")                                            # the agent's name, or None
    casebase token alice --file tokens.toml                           # a new named token (printed once)

Every route needs the token unless it is in ``PUBLIC`` (the page, its static files, ``/healthz``): a route
added later is guarded by default. The middlewares are plain ASGI, so a refused request is answered from its
headers alone, before a byte of its body is read:

    security headers  >  Host allow-list  >  token  >  body limit (streamed, chunked too) and read timeout  >  app

A tokens file is TOML, one ``name = "sha256:<hex of the token>"`` per agent: the server never holds the
tokens themselves, and feedback and retained cases record the name of the agent who gave them.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import secrets
import socket
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from casebase.errors import CasebaseError

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
WILDCARD = {"0.0.0.0", "::", ""}
MIN_TOKEN_CHARS = 16
# Routes anyone may load: the pages (the agents' and the insights page) hold no data and ask for the token
# themselves; /healthz says whether one is needed.
PUBLIC_PATHS = {"/", "/insights", "/healthz", "/favicon.ico"}
PUBLIC_PREFIXES = ("/static/",)
SHARED = "token"  # the agent name recorded for $CASEBASE_TOKEN

# The page and the API: nothing but our own files, never framed. The OpenAPI pages load Swagger UI / ReDoc
# from their CDN with an inline script (they hold no case-base text).
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
CSP_DOCS = ("default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
            "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
            "font-src https://fonts.gstatic.com; img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
            "worker-src blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
DOCS_PATHS = {"/docs", "/redoc", "/docs/oauth2-redirect"}


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def token_hash(token: str) -> str:
    return "sha256:" + hashlib.sha256(token.encode("utf-8")).hexdigest()


def weak(token: str) -> str | None:
    """Why a token is too weak to guard a server on the network, or None."""
    if token != token.strip() or any(c.isspace() for c in token):
        return "it holds spaces"
    if len(token) < MIN_TOKEN_CHARS:
        return f"it has {len(token)} characters (at least {MIN_TOKEN_CHARS})"
    if len(set(token)) < 6:
        return "it repeats too few characters"
    return None


@dataclass
class Tokens:
    """The bearer tokens a server accepts: the shared ``$CASEBASE_TOKEN`` and/or named ones from a tokens file."""

    shared: str | None = None
    named: dict[str, str] = field(default_factory=dict)  # name -> "sha256:<hex>"
    source: str | None = None

    @property
    def required(self) -> bool:
        return bool(self.shared or self.named)

    @classmethod
    def load(cls, token: str | None = None, tokens_file: str | Path | None = None) -> "Tokens":
        named = read_tokens_file(Path(tokens_file)) if tokens_file else {}
        return cls(shared=token or None, named=named, source=str(tokens_file) if tokens_file else None)

    def who(self, authorization: str | None) -> str | None:
        """The agent a ``Bearer …`` header names (constant-time comparisons), else None."""
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not given:
            return None
        found = None
        if self.shared and hmac.compare_digest(given.encode(), self.shared.encode()):
            found = SHARED
        digest = token_hash(given)
        for name, expected in self.named.items():  # every hash is compared: no early exit to time
            if hmac.compare_digest(digest, expected) and found is None:
                found = name
        return found

    def check_bind(self, host: str) -> None:
        """Refuse a server beyond loopback without a strong token."""
        if host in LOOPBACK:
            return
        if not self.required:
            raise CasebaseError(f"refusing to listen on {host} without a token: set CASEBASE_TOKEN to a random string "
                                f"of {MIN_TOKEN_CHARS}+ characters (`casebase token` makes one), or CASEBASE_TOKENS_FILE, "
                                "or serve on 127.0.0.1")
        if self.shared and (why := weak(self.shared)):
            raise CasebaseError(f"refusing to listen on {host}: CASEBASE_TOKEN is too weak ({why}); use a random "
                                f"string of {MIN_TOKEN_CHARS}+ characters, e.g. `python -c 'import secrets; "
                                "print(secrets.token_urlsafe(32))'`")


NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
HASH = re.compile(r"^sha256:[0-9a-f]{64}$")


def read_tokens_file(path: Path) -> dict[str, str]:
    if not path.is_file():
        raise CasebaseError(f"tokens file {path} does not exist: create it with `casebase token NAME --file {path}`")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise CasebaseError(f"tokens file {path} is not valid TOML ({err}): one `name = \"sha256:<hex>\"` per line")
    tokens = data.get("tokens", data)
    bad = [str(k) for k, v in tokens.items() if not (NAME.match(str(k)) and isinstance(v, str) and HASH.match(v))]
    if bad:
        raise CasebaseError(f"tokens file {path}: entries {', '.join(map(repr, bad[:5]))} are not `name = \"sha256:<64 hex>\"` "
                            f"(names: letters, digits, . _ @ -); `casebase token NAME --file {path}` writes one")
    if len(set(tokens.values())) < len(tokens):
        raise CasebaseError(f"tokens file {path}: two agents share one token; give each their own")
    return dict(tokens)


def add_named_token(path: Path, name: str) -> str:
    """Append a new random token for ``name`` to a tokens file (its hash only) and return the token."""
    from casebase.workspace import atomic_write

    if not NAME.match(name):
        raise CasebaseError(f"agent name {name!r}: use letters, digits, '.', '_', '@' or '-' (up to 64 characters)")
    tokens = read_tokens_file(path) if path.exists() else {}
    if name in tokens:
        raise CasebaseError(f"{path} already holds a token for {name!r}: remove its line first to replace it")
    token = secrets.token_urlsafe(32)
    lines = [f"{json.dumps(n)} = {json.dumps(h)}" for n, h in {**tokens, name: token_hash(token)}.items()]
    atomic_write(path, lambda tmp: tmp.write_text("# casebase agent tokens: name = sha256 of the token\n"
                                                  + "\n".join(lines) + "\n", encoding="utf-8"))
    path.chmod(0o600)
    return token


def allowed_hosts(host: str, extra: list[str] | None = None) -> list[str]:
    """The Host names a request may carry (a DNS-rebinding page sends its own name and is refused): loopback
    names, the address served on, this machine's names and addresses when serving on every interface, and
    ``--allowed-host`` (``*`` turns the check off)."""
    hosts = set(LOOPBACK) | {h.strip().lower() for h in extra or [] if h.strip()}
    if host in WILDCARD:
        names = {socket.gethostname(), socket.getfqdn()}
        hosts |= {n.lower() for n in names if n}
        for name in names:
            try:
                hosts |= {info[4][0] for info in socket.getaddrinfo(name, None)}
            except OSError:
                pass
    else:
        hosts.add(host.lower())
    return sorted(hosts | {f"[{h}]" for h in hosts if ":" in h and not h.startswith("[")})  # IPv6 as a Host carries it


def _json_error(status: int, code: str, message: str, headers: list | None = None) -> tuple[dict, dict]:
    body = json.dumps({"error": {"status": status, "code": code, "message": message}}).encode()
    start = {"type": "http.response.start", "status": status,
             "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                         *(headers or [])]}
    return start, {"type": "http.response.body", "body": body}


async def _reply(send, status: int, code: str, message: str, headers: list | None = None) -> None:
    start, body = _json_error(status, code, message, headers)
    await send(start)
    await send(body)


class SecurityHeaders:
    """CSP, nosniff, no framing, no referrer; API answers are never cached."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")

        async def with_headers(message):
            if message["type"] == "http.response.start":
                extra = [(b"content-security-policy", (CSP_DOCS if path in DOCS_PATHS else CSP).encode()),
                         (b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
                         (b"referrer-policy", b"no-referrer"), (b"cross-origin-resource-policy", b"same-origin")]
                if path.startswith("/api/"):
                    extra.append((b"cache-control", b"no-store"))
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)


class TokenGate:
    """Every non-public route needs a known bearer token; the agent's name goes to ``scope["state"]["agent"]``."""

    def __init__(self, app, tokens: Tokens):
        self.app, self.tokens = app, tokens

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        agent = None
        if self.tokens.required and not is_public(scope.get("path", "")):
            header = dict(scope.get("headers") or []).get(b"authorization", b"").decode("latin-1")
            agent = self.tokens.who(header)
            if agent is None:
                return await _reply(send, 401, "unauthorized",
                                    "missing or wrong bearer token (Authorization: Bearer <token>)",
                                    [(b"www-authenticate", b'Bearer realm="casebase"')])
        scope.setdefault("state", {})["agent"] = agent
        await self.app(scope, receive, send)


class BodyLimit:
    """Reads the body itself, chunk by chunk, before the app sees it: over ``max_bytes`` answers 413 at once
    (Content-Length or not), a client that stalls for ``timeout_s`` between chunks (or takes ``total_s`` in all)
    gets 408. Bodies are small JSON, so the app then gets the whole body in one message."""

    def __init__(self, app, max_bytes: int, timeout_s: float = 10.0, total_s: float = 30.0):
        self.app, self.max_bytes, self.timeout_s, self.total_s = app, max_bytes, timeout_s, total_s

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        too_large = f"request body over {self.max_bytes} bytes"
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            return await _reply(send, 413, "too_large", too_large, [(b"connection", b"close")])
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.total_s
        body, more = bytearray(), True
        while more:
            try:
                message = await asyncio.wait_for(receive(), timeout=min(self.timeout_s, max(0.0, deadline - loop.time())))
            except TimeoutError:
                return await _reply(send, 408, "timeout", f"request body not received within {self.timeout_s:g} s",
                                    [(b"connection", b"close")])
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                return await _reply(send, 413, "too_large", too_large, [(b"connection", b"close")])
            more = message.get("more_body", False)
        delivered = False

        async def replay():
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def bind_socket(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything says "serving": a busy port is one clear error."""
    if not 0 <= port <= 65535:  # 0: a free port the system picks (tests)
        raise CasebaseError(f"--port {port}: give a port between 1 and 65535")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as err:
        raise CasebaseError(f"--host {host!r}: not an address of this machine ({err.strerror})")
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as err:
        sock.close()
        hint = "stop the other server or pick another --port" if err.errno in (98, 48, 10048) else \
            "pick a port above 1023 or another --host"
        raise CasebaseError(f"cannot listen on {host}:{port}: {err.strerror}; {hint}")
    sock.set_inheritable(True)
    return sock

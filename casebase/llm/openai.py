"""Any OpenAI-compatible chat server as an LLM: vLLM, Ollama, llama.cpp server, TGI.

    get_llm("openai:http://localhost:8000/v1#meta-llama/Llama-3.2-1B-Instruct")
    get_llm("openai:http://localhost:11434/v1")        # no #MODEL: the server's first model

The API key comes only from the environment (``CASEBASE_LLM_API_KEY``, else ``OPENAI_API_KEY``);
with neither set no Authorization header is sent, which is what local servers expect.
``json_schema`` is sent as ``response_format`` (true constrained decoding on vLLM, llama.cpp, Ollama): OpenAI's
``{"type": "json_schema", ...}`` form first; a server that refuses it (llama-cpp-python's answers HTTP 500 "should be
'text' or 'json_object'") gets ``{"type": "json_object", "schema": ...}`` from then on, which llama.cpp's servers
constrain to the schema.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor, as_completed

import httpx

from casebase.errors import CasebaseError, UpstreamError
from casebase.llm.base import LLM, normalise_prompts
from casebase.llm.prompts import Message, cut_at_stop
from casebase.progress import track

KEY_VARIABLES = ("CASEBASE_LLM_API_KEY", "OPENAI_API_KEY")
RETRY_STATUS = {408, 429}  # request timeout, rate limit; other 4xx are the caller's fault


class _Retryable(Exception):
    """A failure worth another try (connection, timeout, 429, 5xx); the message is for the final error."""


class _FormRefused(Exception):
    """The server refused the ``json_schema`` form of ``response_format``: ask again with the other."""


class OpenAILLM(LLM):
    """Chat completions over HTTP, ``concurrency`` requests at a time, each retried with backoff."""

    def __init__(self, base_url: str, model: str | None = None, *, concurrency: int = 8, timeout: float = 120.0,
                 retries: int = 4, backoff: float = 1.0):
        if not base_url.startswith(("http://", "https://")):
            raise CasebaseError(f"openai backend: base URL {base_url!r} must start with http:// or https://, "
                                f"e.g. openai:http://localhost:8000/v1#MODEL")
        self.base_url = base_url.rstrip("/")
        self.concurrency = max(1, int(concurrency))
        self.timeout = float(timeout)
        self.retries = max(1, int(retries))
        self.backoff = float(backoff)
        key = next((os.environ[v] for v in KEY_VARIABLES if os.environ.get(v)), None)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.client = httpx.Client(headers=headers, timeout=self.timeout,
                                   limits=httpx.Limits(max_connections=self.concurrency))
        self.schema_form = "json_schema"  # or "json_object" once the server refused the first
        self.model = model or self._first_model()
        self.name = f"openai:{self.base_url}#{self.model}"

    def generate(self, prompts, max_new_tokens: int = 256, *, temperature: float = 0.0,
                 json_schema: dict | None = None, stop: list[str] | None = None) -> list[str]:
        batch = normalise_prompts(prompts)
        if not batch:
            return []
        bodies = [self._body(messages, max_new_tokens, temperature, json_schema, stop) for messages in batch]
        if len(bodies) == 1:
            return [self._complete(bodies[0], stop)]
        replies: list[str] = [""] * len(bodies)
        pool = ThreadPoolExecutor(max_workers=min(self.concurrency, len(bodies)))
        try:
            futures = {pool.submit(self._complete, body, stop): i for i, body in enumerate(bodies)}
            done = as_completed(futures)
            if len(bodies) > self.concurrency:
                done = track(done, f"LLM requests ({self.model})", total=len(bodies))
            for future in done:
                replies[futures[future]] = future.result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)  # first failure: drop the requests not yet sent
        return replies

    def _body(self, messages: list[Message], max_new_tokens: int, temperature: float,
              json_schema: dict | None, stop: list[str] | None) -> dict:
        body: dict = {"model": self.model, "messages": messages, "max_tokens": max_new_tokens,
                      "temperature": temperature}
        if stop:
            body["stop"] = stop
        if json_schema is not None:
            body["response_format"] = self._response_format(json_schema)
        return body

    def _response_format(self, schema: dict) -> dict:
        if self.schema_form == "json_object":
            return {"type": "json_object", "schema": schema}
        return {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}

    def _complete(self, body: dict, stop: list[str] | None) -> str:
        try:
            data = self._request("POST", "/chat/completions", body)
        except _FormRefused:
            self.schema_form = "json_object"
            body = {**body, "response_format": self._response_format(body["response_format"]["json_schema"]["schema"])}
            data = self._request("POST", "/chat/completions", body)
        try:
            content = data["choices"][0]["message"].get("content") or ""
        except (KeyError, IndexError, TypeError, AttributeError):
            raise UpstreamError(f"{self.base_url}/chat/completions returned no choices[0].message: "
                                f"{str(data)[:300]}; is this an OpenAI-compatible server?") from None
        return cut_at_stop(content, stop)

    def _first_model(self) -> str:
        data = self._request("GET", "/models")
        try:
            return data["data"][0]["id"]
        except (KeyError, IndexError, TypeError):
            raise UpstreamError(f"{self.base_url}/models lists no model ({str(data)[:200]}); "
                                f"name one in the spec: openai:{self.base_url}#MODEL") from None

    def _request(self, method: str, path: str, body: dict | None = None) -> dict:
        """The JSON answer of one request, retried on connection errors, timeouts, 429 and 5xx."""
        url = self.base_url + path
        problem = ""
        for attempt in range(self.retries):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                return self._try(method, url, body)
            except _Retryable as error:
                problem = str(error)
        raise UpstreamError(f"LLM server {url} failed after {self.retries} tries: {problem}. "
                            f"Check that the server is running and reachable (or raise the timeout).")

    def _try(self, method: str, url: str, body: dict | None) -> dict:
        try:
            response = self.client.request(method, url, json=body)
        except httpx.TimeoutException as error:
            raise _Retryable(f"timed out after {self.timeout:g} s ({type(error).__name__})") from error
        except httpx.TransportError as error:
            raise _Retryable(f"connection failed ({type(error).__name__}: {error})") from error
        status = response.status_code
        if status >= 400 and (body or {}).get("response_format", {}).get("type") == "json_schema" \
                and "response_format" in response.text:
            raise _FormRefused(response.text[:300])
        if status >= 500 or status in RETRY_STATUS:
            raise _Retryable(f"HTTP {status}: {response.text[:300]}")
        if status >= 400:
            hint = " (set CASEBASE_LLM_API_KEY)" if status in (401, 403) else ""
            raise UpstreamError(f"LLM server {url} answered HTTP {status}{hint}: {response.text[:500]}")
        try:
            return response.json()
        except ValueError:
            raise UpstreamError(f"LLM server {url} answered non-JSON: {response.text[:300]}") from None

    def close(self) -> None:
        self.client.close()

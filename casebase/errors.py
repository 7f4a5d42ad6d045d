"""User-facing errors: each says what is wrong and what to do next.

The CLI turns a ``CasebaseError`` into a short message and exit code 2, never a traceback.
"""


class CasebaseError(Exception):
    """An error the user can fix; the message names the problem and the fix."""

    exit_code = 2


class UpstreamError(CasebaseError):
    """A model server (``--llm openai:…``) failed or answered nonsense: not the user's input. The API answers
    502 ``upstream_error`` and the CLI exits 3; the message names the server."""

    exit_code = 3

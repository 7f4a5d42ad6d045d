"""Progress bars for long work (rich), silenced by ``--quiet``/``--json`` or off a terminal."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.text import Text

T = TypeVar("T")
console = Console(stderr=True)
ENABLED = True


def set_enabled(enabled: bool) -> None:
    global ENABLED
    ENABLED = enabled


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate with a progress bar and ETA on stderr."""
    if not ENABLED:
        yield from items
        return
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        yield from progress.track(items, total=total, description=escape(description))  # model names: no markup


def log(message: str | Text) -> None:
    """A line on stderr; a str is printed as is (it may quote paths or ticket text), never as markup."""
    if ENABLED:
        console.print(message if isinstance(message, Text) else Text(message))

"""The byte progress bar of long commands (writing, hashing, repairing): one
look for all of them, drawn by rich and gone when the work ends. A name from
a file is data: ``bar_name`` escapes it for the terminal and for rich's
markup before it goes in a description."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import Any


def bar_name(name: str) -> str:
    """A parameter's name, cut to 40 characters, as a bar's description
    can hold it."""
    from rich.markup import escape as rich_escape

    from ..display import escape

    return rich_escape(escape(name[:40]))


@contextlib.contextmanager
def byte_bar(description: str, total: int = 1, *, stderr: bool = False) -> Iterator[Callable[..., None]]:
    """A bar of bytes done out of ``total``; yields ``update(done, total=None,
    description=None)``. ``stderr``: drawn there (stdout stays the
    command's output)."""
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True) if stderr else None,
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=total or 1)

        def update(done: int, total: int | None = None, description: str | None = None) -> None:
            kw: dict[str, Any] = {}
            if total is not None:
                kw["total"] = total or 1
            if description is not None:
                kw["description"] = description
            bar.update(task, completed=done, **kw)

        yield update


def with_stderr_bar(work: Callable[[Any], Any], describe: Callable[[Any], str], quiet: bool) -> Any:
    """``work(progress)`` with a bar on stderr when it is a terminal (and not
    ``quiet``); ``progress`` gets the engine's ``Progress`` events, each
    shown as ``describe(event)``. Without a bar, ``work(None)``."""
    if quiet or not sys.stderr.isatty():
        return work(None)
    with byte_bar("", stderr=True) as update:
        return work(lambda ev: update(ev.bytes_done, ev.bytes_total, describe(ev)))

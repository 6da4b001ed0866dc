"""The engine's error types.

Everything the engine refuses raises an ``IrpaError`` whose ``str()`` is one
line a person understands; the CLI prints it as ``irpa: error: ...`` and the
TUI shows it in a dialog. Callers catch ``IrpaError`` and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class IrpaError(Exception):
    """Base of every error the engine raises on purpose."""


class ArchiveError(IrpaError):
    """A file could not be opened or read: malformed, missing, unsupported.

    ``path`` is the file, ``offset`` the byte where it went wrong (None when
    it is not about a position), ``reason`` a sentence.
    """

    def __init__(self, path: str, offset: int | None, reason: str):
        self.path = str(path)
        self.offset = offset
        self.reason = reason
        where = f" at byte {offset}" if offset is not None else ""
        super().__init__(f"{self.path}{where}: {reason}")


class PlanError(IrpaError):
    """An edit cannot be applied: the parameter it names and why."""

    def __init__(self, parameter: str | None, reason: str):
        self.parameter = parameter
        self.reason = reason
        super().__init__(f"parameter '{parameter}': {reason}" if parameter is not None else reason)


class WriteError(IrpaError):
    """Writing an output failed; the destination was left as it was."""

    def __init__(self, path: str, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class Cancelled(IrpaError):
    """Long work stopped because its cancel flag was set."""

    def __init__(self, what: str = "operation"):
        super().__init__(f"{what} cancelled")


@contextmanager
def reading(path: str, what: str = "cannot read") -> Iterator[None]:
    """Turn an ``OSError`` raised while reading ``path`` into the one-line
    ``ArchiveError`` every reader raises: ``PATH: WHAT: strerror``."""
    try:
        yield
    except OSError as e:
        raise ArchiveError(path, None, f"{what}: {e.strerror or e}") from None


class TokenizerError(IrpaError):
    """A file has no tokenizer we can use (none, or a type we do not cover,
    named), or its tokenizer metadata contradicts itself."""

    def __init__(self, path: str, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

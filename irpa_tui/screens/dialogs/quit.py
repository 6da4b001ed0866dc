"""The question before quitting with a plan that is not saved."""

from __future__ import annotations

from rich.text import Text

from irpa_core.display import plural, shown

from .confirm import ConfirmDialog


class QuitDialog(ConfirmDialog):
    """Quit with edits whose plan is not saved: says what quitting loses,
    the plan, and that a file written with it stays (``written``: the last
    file written; ``current``: written with the plan as it is now)."""

    def __init__(self, edits: int, written: str | None = None, current: bool = False):
        question, body = quit_question(edits, written, current)
        super().__init__(question, "Quit", body=body)


def quit_question(edits: int, written: str | None, current: bool) -> tuple[str, Text]:
    """(the question, its body) for ``QuitDialog``."""
    n = plural(edits, "edit")
    path = shown(written, 300) if written is not None else ""  # a path holds what a file's name held
    save = "ctrl+s saves it as JSON (irpa convert --plan and irpa-tui --plan replay it)."
    if written is not None and current:
        body = Text.assemble(
            (path, "bold"), " was written with these edits and stays.\n", f"The plan ({n}) is not saved: ", save
        )
        return "Quit? The plan is not saved", body
    if written is not None:
        body = Text.assemble(
            (path, "bold"), f" was written before the last edits.\nThe plan ({n}) is not saved: ", save
        )
        return "Quit? The last edits are not written or saved", body
    body = Text.assemble(f"The plan ({n}) is not written or saved: w writes the archive, ", save)
    return "Quit? The edits are not written or saved", body

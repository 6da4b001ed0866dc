"""What every screen of the app shares: a typed way to reach the app.

``self.app`` is typed as a plain Textual ``App``; screens that ask the app to
write, verify or reopen an archive go through ``self.irpa`` instead, so the
type checker sees those calls.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.screen import Screen

if TYPE_CHECKING:
    from ..app import IrpaApp


class IrpaScreen(Screen):
    @property
    def irpa(self) -> IrpaApp:
        from ..app import IrpaApp

        app = self.app
        assert isinstance(app, IrpaApp), "irpa screens run inside IrpaApp"
        return app

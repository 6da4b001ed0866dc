"""Modal dialogs, one a module, each a ``ModalScreen`` of a typed result.

Each validates as the user types with the engine's own rules
(``check_splat``, ``cast.cast_check``, ``output.apply``) and refuses to confirm while invalid.
"""

from .blocks import BlocksDialog
from .cast import CastDialog, CastResult
from .confirm import ConfirmDialog
from .dtype import DtypeDialog, ViewAs
from .metadata import MetadataDialog, MetadataInput
from .path import PathDialog
from .quit import QuitDialog
from .rename import RenameDialog, RenameResult
from .splat import SplatDialog, SplatResult
from .write import WriteDialog, WriteResult

__all__ = [
    "BlocksDialog",
    "CastDialog",
    "CastResult",
    "ConfirmDialog",
    "DtypeDialog",
    "MetadataDialog",
    "MetadataInput",
    "PathDialog",
    "QuitDialog",
    "RenameDialog",
    "RenameResult",
    "SplatDialog",
    "SplatResult",
    "ViewAs",
    "WriteDialog",
    "WriteResult",
]

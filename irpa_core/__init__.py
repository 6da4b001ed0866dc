"""irpa_core: read, edit and write IREE parameter archives, GGUF and
safetensors. Never imports textual; imports numpy only where numbers are
needed (statistics), so listing an archive stays fast.

Public API::

    open_archive(*paths) -> Archive      # .irpa / .gguf / .safetensors / shard dirs
    Archive, Entry, SourceFile           # plain data (irpa_core.model)
    IrpaError, ArchiveError, PlanError   # the only exceptions raised on purpose
"""

from .errors import ArchiveError, Cancelled, IrpaError, PlanError, WriteError
from .formats import open_archive
from .model import Archive, Entry, SourceFile, iter_chunks, read_bytes

__all__ = [
    "Archive",
    "ArchiveError",
    "Cancelled",
    "Entry",
    "IrpaError",
    "PlanError",
    "SourceFile",
    "WriteError",
    "iter_chunks",
    "open_archive",
    "read_bytes",
]

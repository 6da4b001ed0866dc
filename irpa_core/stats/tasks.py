"""The tasks of an exact pass over many entries, and what a task does.

A task is a few consecutive chunks of one tensor, or a few small tensors
whole. Tasks run in threads of this process: the compiled kernels and the
statistics pass (``native``) release the GIL, as numpy's reductions and
OpenBLAS do, so threads keep every core busy, and the process loads them
and holds its buffers once. A task gives back, per tensor, the moments of each chunk and the
value counts of all its chunks added up; the caller merges the moments in
the order of the chunks (``_Acc.merge_moments``: floating point) and adds
the counts (integers), so a result is the one a single thread gives, bit
for bit.
"""

from __future__ import annotations

from ..dtypes import DType
from ..errors import Cancelled
from ..model import Entry, read_bytes
from . import allocator
from .accumulate import Moments, _Acc, _new_acc
from .decoding import decoder
from .result import Stats

Span = tuple[int, int]  # offset in the entry's bytes, length
# An entry, the dtype read as, spans of its bytes, and the histogram's
# bins when the spans are the whole entry (else None).
Item = tuple[Entry, DType, list[Span], int | None]
# Per item: the Stats of a whole entry, or each chunk's moments and the
# value counts added up.
Part = Stats | tuple[list[Moments], _Acc]
TASK_CHUNKS = 4  # chunks of a tensor per task: about 4M values, tens of ms


def run_items(items: list[Item], cancel=None) -> list[Part]:
    """The parts of ``items``. A whole tensor (``bins`` given) is merged
    here as the caller would merge it, and its ``Stats`` is the part."""
    allocator.keep_freed_memory()
    out: list[Part] = []
    for e, d, spans, bins in items:
        dec = decoder(e, d)
        acc = _new_acc(d)
        moments = []
        for span in spans:
            if cancel is not None and cancel.is_set():
                raise Cancelled("statistics")
            a = acc.chunk()
            a.add_encoded(read_bytes(e, *span), dec, d)
            if bins is None:
                moments.append(a.moments())
            else:
                acc.merge_moments(a.moments())
            acc.merge_counts(a)
        out.append(acc.result(True, bins, d.name) if bins is not None else (moments, acc))
    return out

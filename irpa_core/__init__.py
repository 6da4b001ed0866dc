"""irpa_core: read, edit and write IREE parameter archives, GGUF and
safetensors. Never imports textual; imports numpy only where numbers are
needed (values, statistics), so listing an archive stays fast.

Public API (README "Python API" has runnable examples)::

    open_archive(*paths) -> Archive          # .irpa / .gguf / .safetensors / shard dirs / URLs
    Archive, Entry, SourceFile               # plain data (irpa_core.model)
    read_bytes(entry), iter_chunks(entry)    # an entry's bytes
    file_metadata(archive) -> dict           # file-level key/values
    read_tensor(entry) -> numpy.ndarray      # decoded values
    compute_stats(entry) -> Stats            # exact statistics, one streaming pass
    Plan                                     # an edit plan (exclude, splat, rename, cast...)
    convert(plan, archive, path) -> WriteResult
    verify_output(sources, plan, output) -> Report
    diff_archives(a, b) -> DiffReport
    load_tokenizer(archive) -> Tokenizer     # tokenize as llama.cpp does (GGUF metadata, tokenizer.json)
    IrpaError, ArchiveError, PlanError, WriteError, Cancelled, DecodeError, TokenizerError

Every error raised on purpose is an ``IrpaError`` with a one-line message.

Importing this package stays light: the functions import what they need
when called, and ``Plan``, ``Stats``, ``DecodeError``, ``WriteResult``,
``Report``, ``DiffReport``, ``compute_stats`` and ``diff_archives`` (the
engine's ``stats.api.compute_stats`` and ``diff.diff``), ``load_tokenizer``
and ``Tokenizer`` are loaded on first use (``__getattr__``).
No public name is also the name of a submodule: importing the submodule
would replace the function on the package.
"""

from __future__ import annotations

import os

from .errors import ArchiveError, Cancelled, IrpaError, PlanError, TokenizerError, WriteError
from .formats import open_archive
from .model import Archive, Entry, SourceFile, iter_chunks, read_bytes

TYPE_CHECKING = False
if TYPE_CHECKING:  # only for the type checker: these pull in numpy, or cost start-up time
    from collections.abc import Callable

    import numpy as np

    from .diff import DiffReport
    from .diff import diff as diff_archives
    from .dtypes import DType
    from .plan import Plan
    from .stats import DecodeError, Stats
    from .stats.api import compute_stats
    from .tokenizer import Tokenizer, load_tokenizer
    from .verify import Report
    from .write import Progress, WriteResult

__all__ = [
    "Archive",
    "ArchiveError",
    "Cancelled",
    "DecodeError",
    "DiffReport",
    "Entry",
    "IrpaError",
    "Plan",
    "PlanError",
    "Report",
    "SourceFile",
    "Stats",
    "Tokenizer",
    "TokenizerError",
    "WriteError",
    "WriteResult",
    "compute_stats",
    "convert",
    "diff_archives",
    "file_metadata",
    "iter_chunks",
    "load_tokenizer",
    "open_archive",
    "read_bytes",
    "read_tensor",
    "verify_output",
]

# Names loaded on first use: public name -> (module, name in it).
_LAZY = {
    "Plan": ("irpa_core.plan", "Plan"),
    "Stats": ("irpa_core.stats.result", "Stats"),
    "DecodeError": ("irpa_core.stats.decoding", "DecodeError"),
    "WriteResult": ("irpa_core.write", "WriteResult"),
    "Report": ("irpa_core.verify", "Report"),
    "DiffReport": ("irpa_core.diff", "DiffReport"),
    "compute_stats": ("irpa_core.stats.api", "compute_stats"),
    "diff_archives": ("irpa_core.diff", "diff"),
    "load_tokenizer": ("irpa_core.tokenizer", "load_tokenizer"),
    "Tokenizer": ("irpa_core.tokenizer", "Tokenizer"),
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'irpa_core' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


def file_metadata(archive: Archive) -> dict[str, object]:
    """The archive's file-level key/values, as a plain dict.

    They come from the first input file that has any: a GGUF file's
    key/values (without the ``split.*`` keys of a split model's shards), a
    safetensors file's ``__metadata__`` (every value a string), or an irpa
    file's ``__SHARK_DATASET__`` entry (its GGUF key/values, then
    sharktank's other properties such as ``hparams``). Arrays are Python
    lists; strings that are not valid UTF-8 keep their bytes as
    ``surrogateescape`` characters. Empty when no input has any. Raises
    ArchiveError for a ``__SHARK_DATASET__`` entry that is not valid.

    Example::

        archive = open_archive("model.gguf")
        meta = file_metadata(archive)
        print(meta["general.architecture"], len(meta["tokenizer.ggml.tokens"]))
    """
    from . import filemeta
    from .plan import Plan

    meta = filemeta.read(filemeta.origin(archive, Plan().fates(archive)))
    out = {key: _plain_value(value) for key, value in meta.values.items()}
    for key, value in meta.properties.items():
        out.setdefault(key, value)
    return out


def _plain_value(value: object) -> object:
    """A metadata value with its arrays as lists: readers give a GGUF array
    as a lazy ``GGUFArray``, an irpa's dataset entry as an ``(element type,
    items)`` pair (an array of arrays holds more of either)."""
    from .formats.dataset_meta import read_array
    from .formats.gguf import GGUFArray

    if isinstance(value, GGUFArray):
        return [_plain_value(x) for x in read_array(value)]
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str):
        return [_plain_value(x) for x in value[1]]
    return value


def read_tensor(entry: Entry, as_dtype: DType | str | None = None) -> np.ndarray:
    """The values of ``entry`` as a new numpy array (writable, yours).

    Plain dtypes keep their own numpy dtype (``bf16`` and the fp8 types as
    ``ml_dtypes``); GGUF block-quantized types (``Q8_0``, ``Q4_K``...) are
    dequantized to float32 by ``gguf.quants.dequantize``. A splat is
    expanded to its repeated value. The array has the entry's row-major
    shape when its element count matches it, else it is 1-D.
    ``as_dtype`` (a name such as ``"f32"``, or a ``DType``) reads the
    bytes as another dtype: a raw irpa entry without a dtype needs one.
    The whole tensor is read (from the network for a remote file). Raises
    DecodeError (an IrpaError) for an entry that cannot be decoded: no or
    unknown dtype, a quantized type without a dequantizer, a length that is
    not a whole number of elements; ArchiveError when the file is short.

    Example::

        archive = open_archive("model.safetensors")
        w = read_tensor(archive.by_name["lm_head.weight"])
        print(w.dtype, w.shape, float(w.mean()))
    """
    import numpy as np

    from . import dtypes
    from .stats.decoding import DecodeError, decoder, element_count, need_dtype

    if isinstance(as_dtype, str):
        named = dtypes.by_name(as_dtype)
        if named is None:
            raise DecodeError(f"'{entry.name}': unknown dtype {as_dtype!r}")
        as_dtype = named
    d = need_dtype(entry, as_dtype)
    if entry.length % d.type_size:
        raise DecodeError(
            f"'{entry.name}': {entry.length} bytes is not a whole number of {d.name} "
            f"{'blocks' if d.kind == 'quant' else 'elements'} ({d.type_size} bytes each)"
        )
    if d.kind == "quant":
        whole = decoder(entry, d, values=element_count(entry, d))
        values = whole(read_bytes(entry))  # new float32 values: the blocks are dropped
    else:
        npd = d.numpy_dtype()
        if npd is None:
            raise DecodeError(f"'{entry.name}': dtype {d.name} cannot be decoded")
        # Chunk by chunk into the array returned: no second copy of the tensor.
        raw = np.empty(entry.length, np.uint8)
        pos = 0
        for chunk in iter_chunks(entry):
            raw[pos : pos + len(chunk)] = np.frombuffer(chunk, np.uint8)
            pos += len(chunk)
        values = raw.view(npd)
    shape = entry.shape
    if shape is not None:
        count = 1
        for n in shape:
            count *= n
        if count == values.size:
            return values.reshape(shape)
    return values


def convert(
    plan: Plan | None,
    archive: Archive,
    path: str | os.PathLike,
    *,
    format: str | None = None,
    alignment: int | None = None,
    progress: Callable[[Progress], None] | None = None,
    cancel=None,
    salvage: bool = False,
) -> WriteResult:
    """Write ``plan`` applied to ``archive`` as a new file at ``path``, as
    ``irpa convert`` does, and return a ``WriteResult`` (``path``,
    ``format``, ``entries``, ``bytes``, ``data_bytes``, ``seconds``).

    ``plan``: a ``Plan`` (None: copy everything). ``format``: ``"irpa"``,
    ``"gguf"`` or ``"safetensors"``; None takes it from the extension of
    ``path``. File metadata is kept in every format (see README "The
    command line"); GGUF and safetensors write splats as data.
    ``alignment``: the data alignment (irpa: default 64; GGUF: written as
    its ``general.alignment`` key; safetensors is packed and has none). The
    write is atomic: ``path`` is either untouched or complete. Everything is
    validated before a byte is written: PlanError names the parameter or
    metadata key an edit cannot apply to; WriteError for the destination.
    Edits that match no parameter are ignored: ``plan.unmatched(archive)``
    lists them. ``progress`` gets a ``Progress`` (entry, index, bytes done
    and total) as it goes; ``cancel.is_set()`` stops with ``Cancelled``.
    From a cut-off file (``archive.truncated``), copying a partial or
    missing tensor is a PlanError naming it; ``salvage=True`` writes only
    the complete ones.

    Example::

        archive = open_archive("model.gguf")
        plan = Plan().strip().keep("blk.0.*").set_metadata("general.name", "repro")
        result = convert(plan, archive, "repro.gguf")
        print(result.entries, result.bytes)
    """
    from .output import aligned, build, format_for
    from .plan import Plan
    from .write import write_archive

    path = os.fspath(path)
    if format is None:
        format = format_for(path)
        if format is None:
            raise WriteError(path, "unknown extension: name it .irpa, .gguf or .safetensors, or give a format")
    fmt = _format(format, path)
    plan, align = aligned(plan if plan is not None else Plan(), fmt, alignment)
    out = build(plan, archive, fmt, salvage=salvage)
    return write_archive(out, path, alignment=align, progress=progress, cancel=cancel)


def _format(name: str, path: str) -> str:
    from .formats import registry

    try:
        return registry.get(name).name
    except ValueError as e:
        raise WriteError(path, str(e)) from None


def verify_output(
    sources: Archive,
    plan: Plan | None,
    output: Archive,
    *,
    alignment: int | None = None,
    progress: Callable[[Progress], None] | None = None,
    cancel=None,
) -> Report:
    """Check that ``output`` holds exactly what ``plan`` applied to
    ``sources`` gives in the output's format, as ``irpa verify`` does:
    names, kinds, dtypes and shapes, every byte (cast values and expanded
    splats included, compared in bounded chunks), splat patterns, and the
    file metadata. Nothing extra may be there.

    Give the ``plan`` and ``alignment`` the output was written with
    (``convert``): a GGUF's alignment is one of its key/values. The
    ``Report`` has ``ok``, ``summary()`` (one line), ``problems`` and
    ``checks`` (one ``Check`` per entry and per differing metadata key:
    ``name``, ``status`` such as ``"same"``, ``"bytes differ"``,
    ``"missing"``, ``"extra"``, ``detail``, and where bytes differ
    ``difference``), and ``to_json()``. ``progress``/``cancel`` as in
    ``convert``.

    Example::

        sources = open_archive("model.gguf")
        report = verify_output(sources, plan, open_archive("repro.gguf"))
        print(report.summary())
        assert report.ok, [(c.name, c.status) for c in report.problems]
    """
    from .output import aligned, format_of
    from .plan import Plan
    from .verify import verify

    plan, _ = aligned(plan if plan is not None else Plan(), format_of(output), alignment)
    return verify(sources, plan, output, progress=progress, cancel=cancel)

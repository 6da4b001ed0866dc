"""The compiled kernels' machine code, loaded without numba.

``kernels`` is numba source. numba compiles it once per machine (~6 s)
and caches it, but loading that cache costs every process ~0.35 s: numba's
import and its type registries, which a pass over gemma's 253 MB does not
otherwise need (it is then a third of ``irpa stats``). So the machine code
of ``kernels``' two entry points, C functions over raw addresses, is kept
in a file of its own, and later processes link it with llvmlite alone
(numba's code generator, installed with it): ~35 ms, numba not imported.

The file (``kernels.<key>.bin``, beside ``kernels.py`` in ``__pycache__``,
or in the user's cache directory when that is read-only) is keyed by what
the code depends on: ``kernels.py``'s bytes, llvmlite's version, the CPU
(the code uses its instruction set) and the interpreter.
A missing, stale or damaged file is made again, by numba, in the process
that finds it so.

The code calls nothing outside itself but on numba's error paths, which
these kernels never take (they raise nothing: no bounds checks, no
division by a variable, no allocation). Those names, when numba is not
loaded to give them, are bound to ``abort``: a broken promise stops the
process rather than jumping to nowhere. ctypes calls the entry points and
lets go of the GIL meanwhile: threads decode in parallel.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import os
import platform
import sys
import tempfile
import threading
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..dtypes import DType, by_name
from .accumulate import FINE_BITS

_MAGIC = b"irpa kernels 1\n"
_SOURCE = Path(__file__).with_name("kernels.py")
# The entry points' C types (``kernels.decode`` and ``kernels.count``).
_DECODE = ctypes.CFUNCTYPE(
    None, ctypes.c_int32, ctypes.c_void_p, ctypes.c_ssize_t, ctypes.c_void_p, ctypes.c_ssize_t, ctypes.c_void_p,
    ctypes.c_void_p,
)  # fmt: skip
_COUNT = ctypes.CFUNCTYPE(
    None, ctypes.c_void_p, ctypes.c_int32, ctypes.c_ssize_t, ctypes.c_void_p, ctypes.c_ssize_t, ctypes.c_void_p,
    ctypes.c_void_p, ctypes.c_void_p,
)  # fmt: skip
# f16 bits -> float32, for the block scales (exact: numpy's own conversion).
_F16 = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(np.float16).astype(np.float32)


class NativeError(Exception):
    """The machine code cannot be loaded or made (the message says why)."""


class Kernels:
    """The loaded entry points: ``KERNELS`` (block decoders by our dtype
    name, as ``numpy_kernels.KERNELS``) and ``tally`` (as
    ``accumulate._tally``). Arguments are checked here: the machine code
    trusts every address and size it is given."""

    def __init__(self, decode: int, count: int, types: list[str]) -> None:
        self._decode = _DECODE(decode)
        self._count = _COUNT(count)
        self.KERNELS: dict[str, Callable[[np.ndarray], np.ndarray]] = {n: self._kernel(_dtype(n)) for n in types}

    def _kernel(self, d: DType) -> Callable[[np.ndarray], np.ndarray]:
        ggml, unit, per = d.ggml, d.type_size, d.block_size
        assert ggml is not None
        decode = self._decode

        def kernel(raw: np.ndarray) -> np.ndarray:
            """Whole blocks (1-D uint8) -> their float32 values."""
            raw = np.ascontiguousarray(raw, np.uint8).reshape(-1)
            blocks = raw.size // unit
            out = np.empty(blocks * per, np.float32)
            tmp = np.empty(32, np.float32)
            decode(ggml, raw.ctypes.data, blocks * unit, out.ctypes.data, out.size, _F16.ctypes.data, tmp.ctypes.data)
            return out

        kernel.__name__ = d.name.lower()
        return kernel

    def tally(self, x: np.ndarray, keys: np.ndarray, out: np.ndarray, fine: np.ndarray, st: np.ndarray) -> None:
        """Count ``x`` (1-D float32 or float64) into ``fine`` by ``keys``
        (uint16, any positive step), copy it into ``out`` (float64) and
        update ``st``: [zeros, min, max]; the bounds skip NaN."""
        n = x.size
        if x.dtype not in (np.float32, np.float64) or x.ndim != 1 or not x.flags.c_contiguous:
            raise ValueError(f"tally: values must be contiguous 1-D float32 or float64, not {x.dtype} {x.shape}")
        if keys.dtype != np.uint16 or keys.ndim != 1 or keys.size < n or keys.strides[0] <= 0 or keys.strides[0] % 2:
            raise ValueError(f"tally: {n} keys must be 1-D uint16 with a positive step")
        _need(out, np.float64, n, "out")
        _need(fine, np.int64, 1 << FINE_BITS, "fine")
        _need(st, np.float64, 3, "st")
        self._count(
            x.ctypes.data, x.dtype == np.float64, n, keys.ctypes.data, keys.strides[0] // 2, out.ctypes.data,
            fine.ctypes.data, st.ctypes.data,
        )  # fmt: skip


def _dtype(name: str) -> DType:
    d = by_name(name)
    if d is None or d.ggml is None:
        raise NativeError(f"compiled kernels file: unknown block type {name!r}")
    return d


def _need(a: np.ndarray, dtype, size: int, name: str) -> None:
    if a.dtype != dtype or a.ndim != 1 or not a.flags.c_contiguous or not a.flags.writeable or a.size < size:
        want = f"{size} contiguous writable {np.dtype(dtype).name}"
        raise ValueError(f"tally: {name} must be {want}, not {a.dtype} {a.shape}")


def load() -> Kernels:
    """The machine code of ``kernels``, from its file (made first, by
    numba, when it is missing, stale or damaged). Raises ``NativeError``
    (or ImportError: no llvmlite, no numba to make it) when it cannot."""
    import llvmlite
    import llvmlite.binding as ll

    ll.initialize_native_target()
    ll.initialize_native_asmprinter()
    key = _key(ll, llvmlite.__version__)
    for folder in _folders():
        path = folder / f"kernels.{key}.bin"
        try:
            blob = path.read_bytes()
        except OSError:
            continue
        try:
            return _link(ll, blob)
        except NativeError:
            break  # damaged: made again below
    blob = _make(ll)
    _save(blob, key)
    return _link(ll, blob)


def _key(ll, llvmlite_version: str) -> str:
    """What the machine code depends on, hashed: ``source-setting``, the
    source (``kernels.py``) and the setting it was made in (the CPU, whose
    instruction set it uses, llvmlite, the interpreter and this file's
    format). numba's version
    is not part of it: the code it made from the same source stays right,
    and llvmlite's version moves with numba's."""
    source = hashlib.sha256(_SOURCE.read_bytes()).hexdigest()[:16]
    cpu = (ll.get_host_cpu_name(), ll.get_host_cpu_features().flatten())
    setting = repr((_MAGIC, cpu, llvmlite_version, sys.implementation.cache_tag, platform.machine()))
    return f"{source}-{hashlib.sha256(setting.encode()).hexdigest()[:16]}"


def _folders() -> list[Path]:
    """Where the file may be: beside ``kernels.py``, then the user's cache
    (none without a home: never a folder named ``~`` in the working one)."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    user = [Path(cache) / "irpa"] if os.path.isabs(cache) else []
    return [_SOURCE.parent / "__pycache__", *user]


def _make(ll) -> bytes:
    """Compile ``kernels`` with numba, then its LLVM module into object
    code for this CPU, and return the file: a JSON header, then the code."""
    from . import kernels

    module = ll.parse_assembly(kernels.decode.inspect_llvm())
    module.link_in(ll.parse_assembly(kernels.count.inspect_llvm()))
    module.verify()
    externals = {f.name for f in module.functions if f.is_declaration and not f.name.startswith("llvm.")}
    externals |= {g.name for g in module.global_variables if g.is_declaration}
    code = _machine(ll).emit_object(module)
    header = {
        "types": list(kernels.TYPES),
        "decode": kernels.decode.native_name,
        "count": kernels.count.native_name,
        "externals": sorted(externals),
        "size": len(code),
        "sha256": hashlib.sha256(code).hexdigest(),
    }
    head = json.dumps(header).encode()
    return _MAGIC + len(head).to_bytes(8, "little") + head + code


def _machine(ll):
    """This CPU, as numba targets it: its name and features, full optimization."""
    target = ll.Target.from_default_triple()
    cpu, features = ll.get_host_cpu_name(), ll.get_host_cpu_features().flatten()
    return target.create_target_machine(cpu=cpu, features=features, opt=3, codemodel="jitdefault")


def _save(blob: bytes, key: str) -> None:
    """Write the file where it can be written, whole or not at all, and
    remove the ones it replaces there: made in the same setting from an
    older source (another setting's, say another interpreter's, are its
    own). Where none can be written, a warning says what that costs."""
    folders = _folders()
    for folder in folders:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".kernels.", dir=folder)
        except OSError:
            continue
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(blob)
            os.chmod(tmp, 0o644)  # as numba's and Python's caches: every user may read it
            os.replace(tmp, folder / f"kernels.{key}.bin")
        except OSError:
            Path(tmp).unlink(missing_ok=True)
            continue
        setting = key.split("-")[1]
        for old in folder.glob(f"kernels.*-{setting}.bin"):
            if old.name != f"kernels.{key}.bin":
                with contextlib.suppress(OSError):  # another user's: it stays
                    old.unlink()
        return
    where = ", ".join(str(f) for f in folders)
    message = f"compiled kernels: no folder to keep them in ({where}): each process compiles them (~6 s)"
    warnings.warn(message, stacklevel=3)


def _parse(blob: bytes) -> tuple[dict, bytes]:
    """The file's header and object code (NativeError when it is not a
    whole file of ours)."""
    try:
        if not blob.startswith(_MAGIC):
            raise ValueError("not a kernels file")
        at = len(_MAGIC)
        size = int.from_bytes(blob[at : at + 8], "little")
        header = json.loads(blob[at + 8 : at + 8 + size])
        code = blob[at + 8 + size :]
        if len(code) != header["size"] or hashlib.sha256(code).hexdigest() != header["sha256"]:
            raise ValueError("its object code is damaged")
        names = [header["decode"], header["count"], *header["externals"], *header["types"]]
        if not all(isinstance(n, str) for n in names):
            raise ValueError("its header is damaged")
    except (ValueError, KeyError, TypeError) as e:
        raise NativeError(f"compiled kernels file: {e}") from None
    return header, code


def _link(ll, blob: bytes) -> Kernels:
    """Link the file's object code into this process."""
    header, code = _parse(blob)
    with _LINK_LOCK:
        stop = _abort_address()
        for name in header["externals"]:
            if ll.address_of_symbol(name) is None and stop is not None:
                ll.add_symbol(name, stop)  # numba's error paths: never taken (see above)
        engine = ll.create_mcjit_compiler(ll.parse_assembly(""), _machine(ll))
        engine.add_object_file(ll.ObjectFileRef.from_data(code))
        engine.finalize_object()
        decode, count = engine.get_function_address(header["decode"]), engine.get_function_address(header["count"])
    if not decode or not count:
        raise NativeError("compiled kernels file: an entry point is missing")
    _ENGINES.append(engine)  # it owns the code: a function of it may be held anywhere
    return Kernels(decode, count, header["types"])


_LINK_LOCK = threading.Lock()  # LLVM's symbol table is the process's
_ENGINES: list = []  # every engine linked, kept for the life of the process


def _abort_address() -> int | None:
    try:
        return ctypes.cast(ctypes.CDLL(None).abort, ctypes.c_void_p).value
    except (OSError, AttributeError, TypeError):  # no C library by that name (Windows)
        return None

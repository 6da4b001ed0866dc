"""The one BLAS call of the statistics (a sum of squares), the same in every process.

``x @ x`` goes to OpenBLAS's ddot, which splits a vector of more than
10,000 values over its threads and adds their partial sums: the last bits
of the result (and of the std printed from it) depend on the process's
BLAS thread count, and the extra thread spins for a while after each call,
taking CPU from the other workers. ``sum_of_squares`` therefore runs ddot
on one thread, on the same two halves a two-thread OpenBLAS uses: the
figures stay the ones two-core machines printed before, and every thread
or process gives what one alone would. The call goes through ctypes to the
same ddot numpy calls (the same bits): numpy holds the GIL during it, and
the threads of a pass then took turns at every chunk's sum of squares.
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import os
import threading
from collections.abc import Iterator

import numpy as np

_SPLIT = 10_000  # OpenBLAS runs ddot on one thread up to this length
_LOCK = threading.Lock()
_users = 0
_saved: int | None = None


def sum_of_squares(x: np.ndarray) -> float:
    """``x @ x`` as a two-thread OpenBLAS computes it (x: 1-D float64)."""
    with one_thread():
        if x.size <= _SPLIT:
            return _dot(x)
        h = (x.size + 1) // 2
        return _dot(x[:h]) + _dot(x[h:])


def _dot(v: np.ndarray) -> float:
    """``v @ v``: the same OpenBLAS ddot numpy calls, the same bits, but
    through ctypes, which lets go of the GIL for the call (numpy holds it:
    threads of a statistics pass took turns at every chunk's ddot)."""
    ddot = _FUNCS[2] if _FUNCS is not None else None
    if ddot is None or not v.flags.c_contiguous or v.dtype != np.float64:
        return float(v @ v)
    return float(ddot(v.size, v.ctypes.data, 1, v.ctypes.data, 1))


def _functions():
    """numpy's bundled OpenBLAS's (get, set) thread count and its ddot (or
    None), or None."""
    here = os.path.dirname(np.__file__)
    for path in sorted(glob.glob(os.path.join(here, os.pardir, "numpy.libs", "*openblas*"))):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for suffix, integer in (("64_", ctypes.c_int64), ("", ctypes.c_int)):
            for prefix in ("scipy_openblas", "openblas"):
                get = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                put = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
                if get is not None and put is not None:
                    put.argtypes = [ctypes.c_int]
                    cblas = "scipy_cblas" if prefix.startswith("scipy") else "cblas"
                    ddot = getattr(lib, f"{cblas}_ddot{suffix}", None)
                    if ddot is not None:
                        ddot.argtypes = [integer, ctypes.c_void_p, integer, ctypes.c_void_p, integer]
                        ddot.restype = ctypes.c_double
                    return get, put, ddot
    return None


_FUNCS = None
_LOOKED = False


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """BLAS on one thread while statistics run in this process (nested and
    concurrent uses share it; the count is restored by the last). Without
    numpy's own OpenBLAS, nothing changes."""
    global _users, _saved, _FUNCS, _LOOKED
    with _LOCK:
        if not _LOOKED:
            _FUNCS, _LOOKED = _functions(), True
        if _FUNCS is not None and _users == 0:
            _saved = int(_FUNCS[0]())
            _FUNCS[1](1)
        _users += 1
    try:
        yield
    finally:
        with _LOCK:
            _users -= 1
            if _FUNCS is not None and _users == 0 and _saved is not None:
                _FUNCS[1](_saved)


def pin_one_thread() -> None:
    """BLAS on one thread for the rest of this process (a worker's)."""
    global _FUNCS, _LOOKED
    with _LOCK:
        if not _LOOKED:
            _FUNCS, _LOOKED = _functions(), True
        if _FUNCS is not None:
            _FUNCS[1](1)

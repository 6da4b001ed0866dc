"""The compiled kernels' machine code: made once, kept in a file, loaded
without numba; a damaged or stale file is made again."""

import math
import os
import subprocess
import sys

import numpy as np
import pytest

from irpa_core.stats import native, numpy_kernels
from irpa_core.stats.accumulate import FINE_BITS, _tally


@pytest.fixture
def good(compiled_kernels) -> tuple[str, bytes]:
    """The current key and the file made for it (by the session's load)."""
    import llvmlite
    import llvmlite.binding as ll

    key = native._key(ll, llvmlite.__version__)
    for folder in native._folders():
        path = folder / f"kernels.{key}.bin"
        if path.exists():
            return key, path.read_bytes()
    raise AssertionError("the session's load left no file")


@pytest.fixture
def made(tmp_path, monkeypatch, good) -> list[int]:
    """Files go to (and come from) ``tmp_path / "cache"`` only; making one
    gives the good file (without compiling again) and is counted here."""
    made: list[int] = []
    monkeypatch.setattr(native, "_folders", lambda: [tmp_path / "cache"])
    monkeypatch.setattr(native, "_make", lambda ll: made.append(1) or good[1])
    return made


def _decodes(k: native.Kernels) -> None:
    raw = np.random.default_rng(1).integers(0, 256, 34 * 50, dtype=np.uint8)
    raw[1::34] = 0x20  # sane f16 scales
    want = numpy_kernels.KERNELS["Q8_0"](raw)
    np.testing.assert_array_equal(k.KERNELS["Q8_0"](raw).view(np.uint32), want.view(np.uint32))


def test_a_good_file_is_loaded_as_it_is(tmp_path, made, good):
    folder = tmp_path / "cache"
    folder.mkdir()
    (folder / f"kernels.{good[0]}.bin").write_bytes(good[1])
    _decodes(native.load())
    assert made == []


def _with_header(blob: bytes, **changes) -> bytes:
    """``blob`` with header fields changed (its object code intact)."""
    import json

    header, code = native._parse(blob)
    head = json.dumps({**header, **changes}).encode()
    return native._MAGIC + len(head).to_bytes(8, "little") + head + code


@pytest.mark.parametrize("damage", ["flipped", "cut", "not ours", "empty", "bad header", "odd header"])
def test_a_damaged_file_is_made_again(tmp_path, made, good, damage):
    key, blob = good
    bad = {
        "flipped": blob[:-100] + bytes([blob[-100] ^ 1]) + blob[-99:],
        "cut": blob[: len(blob) // 2],
        "not ours": b"\x7fELF" + blob[4:],
        "empty": b"",
        "bad header": native._MAGIC + (5).to_bytes(8, "little") + b"{oops" + blob[-64:],
        "odd header": _with_header(blob, externals=[1, 2]),
    }[damage]
    folder = tmp_path / "cache"
    folder.mkdir()
    path = folder / f"kernels.{key}.bin"
    path.write_bytes(bad)
    _decodes(native.load())
    assert made == [1] and path.read_bytes() == blob


def test_a_made_file_replaces_older_ones_and_every_user_may_read_it(tmp_path, made, good):
    """An older source's file goes; another setting's (another interpreter,
    CPU or llvmlite) stays."""
    source, setting = good[0].split("-")
    folder = tmp_path / "cache"
    folder.mkdir()
    older, other = f"kernels.{'0' * 16}-{setting}.bin", f"kernels.{source}-{'0' * 16}.bin"
    for name in (older, other, "other.bin"):
        (folder / name).write_bytes(b"not this setting's")
    native.load()
    assert made == [1]
    assert sorted(p.name for p in folder.iterdir()) == sorted([f"kernels.{good[0]}.bin", other, "other.bin"])
    assert (folder / f"kernels.{good[0]}.bin").stat().st_mode & 0o777 == 0o644


def test_an_older_file_that_cannot_be_removed_stays(tmp_path, monkeypatch, made, good):
    """Say another user's, in a shared cache: the new one is kept beside it."""
    from pathlib import Path

    setting = good[0].split("-")[1]
    folder = tmp_path / "cache"
    folder.mkdir()
    older = folder / f"kernels.{'0' * 16}-{setting}.bin"
    older.write_bytes(b"someone else's")

    def refuse(self, missing_ok=False):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "unlink", refuse)
    _decodes(native.load())
    assert older.exists() and (folder / f"kernels.{good[0]}.bin").read_bytes() == good[1]


def test_a_folder_that_cannot_be_written_is_passed_for_the_next(tmp_path, monkeypatch, good):
    (tmp_path / "a-file").write_text("")
    monkeypatch.setattr(native, "_folders", lambda: [tmp_path / "a-file" / "cache", tmp_path / "user"])
    monkeypatch.setattr(native, "_make", lambda ll: good[1])
    _decodes(native.load())
    assert [p.name for p in (tmp_path / "user").iterdir()] == [f"kernels.{good[0]}.bin"]


def test_where_no_folder_can_be_written_a_warning_says_so(tmp_path, monkeypatch, good):
    (tmp_path / "a-file").write_text("")
    monkeypatch.setattr(native, "_folders", lambda: [tmp_path / "a-file" / "cache"])
    monkeypatch.setattr(native, "_make", lambda ll: good[1])
    with pytest.warns(UserWarning, match="no folder to keep them in .*a-file.*each process compiles them"):
        _decodes(native.load())


def test_the_user_folder_is_the_cache_home_and_never_relative(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert native._folders() == [native._SOURCE.parent / "__pycache__", tmp_path / "irpa"]
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert native._folders()[1:] == [tmp_path / ".cache" / "irpa"]
    monkeypatch.setattr(os.path, "expanduser", lambda p: p)  # no home to be found
    assert native._folders() == [native._SOURCE.parent / "__pycache__"]


def test_the_key_follows_the_source_and_llvmlite(tmp_path, monkeypatch):
    import llvmlite.binding as ll

    source, setting = native._key(ll, "1.0").split("-")
    assert native._key(ll, "1.0") == f"{source}-{setting}"
    newer = native._key(ll, "1.1").split("-")
    assert newer[0] == source and newer[1] != setting
    edited = tmp_path / "kernels.py"
    edited.write_bytes(native._SOURCE.read_bytes() + b"\n# an edit\n")
    monkeypatch.setattr(native, "_SOURCE", edited)
    assert native._key(ll, "1.0").split("-")[1] == setting
    assert native._key(ll, "1.0").split("-")[0] != source


def _args(n=1000):
    x = np.random.default_rng(2).standard_normal(n).astype(np.float32)
    bounds = np.array([0.0, math.inf, -math.inf])
    return [x, x.view(np.uint16)[1::2], np.empty(n), np.zeros(1 << FINE_BITS, np.int64), bounds]


@pytest.mark.parametrize("wide", [False, True])
def test_tally_is_numpys(compiled_kernels, wide):
    got, want = _args(), _args()
    if wide:
        for a in (got, want):
            a[0] = a[0].astype(np.float64)
            a[1] = np.ascontiguousarray(a[1])
    compiled_kernels.tally(*got)
    _tally(*want)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize(
    ("at", "bad"),
    [
        (0, lambda a: a.astype(np.int32)),  # values of another type
        (0, lambda a: a[::2]),  # values not contiguous
        (1, lambda a: a[:10]),  # too few keys
        (1, lambda a: a[::-1]),  # keys backwards
        (1, lambda a: a.astype(np.int16)),
        (2, lambda a: a[:10]),  # a copy too short for the values
        (2, lambda a: a.astype(np.float32)),
        (3, lambda a: a[:100]),  # too few buckets
        (4, lambda a: np.zeros(3, np.float32)),
    ],
)
def test_tally_refuses_what_the_machine_code_would_overrun(compiled_kernels, at, bad):
    args = _args()
    args[at] = bad(args[at])
    with pytest.raises(ValueError, match="tally"):
        compiled_kernels.tally(*args)


def test_tally_refuses_a_read_only_copy(compiled_kernels):
    args = _args()
    args[2].flags.writeable = False
    with pytest.raises(ValueError, match="writable"):
        compiled_kernels.tally(*args)


WITHOUT_NUMBA = r"""
import sys
sys.modules["numba"] = None  # numba cannot be imported
import gguf, numpy as np
from gguf import quants
import llvmlite.binding as ll
import gc
from irpa_core.stats import native
KERNELS = native.load().KERNELS  # the kernels outlive what loaded them
gc.collect()
rng = np.random.default_rng(3)
for name, kernel in KERNELS.items():
    qt = gguf.GGMLQuantizationType[name]
    raw = rng.integers(0, 256, 40 * gguf.GGML_QUANT_SIZES[qt][1], dtype=np.uint8)
    with np.errstate(all="ignore"):
        want = quants.dequantize(raw.reshape(1, -1), qt).reshape(-1).astype(np.float32)
    assert np.array_equal(kernel(raw).view(np.uint32), want.view(np.uint32)), name
import llvmlite
key = native._key(ll, llvmlite.__version__)
blob = next(f / f"kernels.{key}.bin" for f in native._folders() if (f / f"kernels.{key}.bin").exists()).read_bytes()
header, _code = native._parse(blob)
stop = native._abort_address()
numba_names = [n for n in header["externals"] if n.startswith(("numba_", "NRT_"))]
bound = all(ll.address_of_symbol(n) == stop for n in numba_names)
print(len(KERNELS), sys.modules["numba"] is not None, bool(numba_names), bound)
"""


def test_the_machine_code_loads_and_decodes_as_gguf_without_numba(compiled_kernels):
    """In a process where numba cannot be imported; numba's runtime names
    (its error paths) are bound to ``abort``. The kernels outlive the
    ``Kernels`` that loaded them (the code stays linked)."""
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    out = subprocess.run([sys.executable, "-c", WITHOUT_NUMBA], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split() == [str(len(compiled_kernels.KERNELS)), "False", "True", "True"]


def _job_stats(path: str, progress=None):
    """A TUI job: the statistics of every tensor, the compiled kernels
    loaded whatever the size; whether they were, and whether numba was."""
    from irpa_core import open_archive
    from irpa_core import stats as S
    from irpa_core.stats import decoding

    decoding.COMPILED_MIN_VALUES = 1
    figures = [st.to_json() for _e, st in S.stats_many(open_archive(path).entries)]
    return figures, decoding._compiled is not None, sys.modules.get("numba") is not None


def test_a_tui_job_child_loads_them_without_numba_and_gives_these_figures(tmp_path, compiled_kernels, monkeypatch):
    """Job children are forked from the TUI's fork server, which preloads
    llvmlite, not numba."""
    from irpa_core import open_archive
    from irpa_core import stats as S
    from irpa_core.stats import decoding
    from irpa_tui.jobs import JobRunner
    from tests.fixtures import make_gguf, quantized_bytes

    path = make_gguf(
        tmp_path / "m.gguf",
        {
            "blk.0.q8": ("Q8_0", quantized_bytes("Q8_0", 64, 512, seed=1)),
            "blk.0.q4k": ("Q4_K", quantized_bytes("Q4_K", 64, 512, seed=2)),
            "blk.0.norm": np.random.default_rng(3).standard_normal(512).astype(np.float32),
        },
    )
    jobs = JobRunner()
    try:
        got = jobs.run(_job_stats, str(path), rate=None)
    finally:
        jobs.close()
    monkeypatch.setattr(decoding, "compiled", lambda values=0, decode_only=False: compiled_kernels)
    want = [st.to_json() for _e, st in S.stats_many(open_archive(path).entries)]
    assert got == (want, True, False)

"""The writer: reference layout, atomicity, cancel, failures, leftovers."""

import errno
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from irpa_core import ArchiveError, Cancelled, WriteError, open_archive
from irpa_core import sources as S
from irpa_core import write as W
from irpa_core.cli import main
from irpa_core.output import apply
from irpa_core.plan import Plan
from irpa_core.write import TMP_MARK, clean_leftovers, write_archive
from tests import oracle
from tests.fixtures import make_irpa_with_iree, make_safetensors


def test_same_bytes_as_reference_layout(tmp_path):
    # Sources without metadata and only data entries: the reference's
    # layout and ours must agree byte for byte.
    src = make_irpa_with_iree(tmp_path / "s.irpa", "--data=a=5xf32", "--data=b=3xi8", "--data=c=70xi16")
    ref, ours = tmp_path / "ref.irpa", tmp_path / "ours.irpa"
    oracle.run_tool("iree-convert-parameters", f"--parameters={src}", f"--output={ref}", "--quiet")
    write_archive(apply(Plan(), open_archive(src)), ours)
    assert ours.read_bytes() == ref.read_bytes()


@pytest.mark.parametrize("alignment", [1, 16, 4096])
def test_alignment_option(tmp_path, alignment):
    src = make_safetensors(tmp_path / "s.safetensors", {"a": np.ones(5, np.float32), "b": np.ones(3, np.int8)})
    out = tmp_path / "o.irpa"
    write_archive(apply(Plan(), open_archive(src)), out, alignment=alignment)
    got = oracle.load(out)
    assert all(e.offset % alignment == 0 for e in got.values() if e.kind == "data")
    assert os.path.getsize(out) % 4096 == 0


def _big_source(tmp_path, n=6, size=1 << 20):
    return make_safetensors(
        tmp_path / "big.safetensors", {f"t{i}": np.full(size // 4, i, np.float32) for i in range(n)}
    )


def test_progress_events(tmp_path):
    src = _big_source(tmp_path)
    events = []
    write_archive(apply(Plan(), open_archive(src)), tmp_path / "o.irpa", progress=events.append)
    assert events[0].bytes_done == 0 and events[-1].bytes_done == events[-1].bytes_total == 6 << 20
    assert [e.index for e in events] == sorted(e.index for e in events)
    assert {e.name for e in events} == {f"t{i}" for i in range(6)}


def test_cancel_leaves_destination_as_it_was(tmp_path):
    src = _big_source(tmp_path)
    out = tmp_path / "o.irpa"
    out.write_bytes(b"previous content")
    cancel = threading.Event()

    def on_progress(ev):
        if ev.index == 3:
            cancel.set()

    with pytest.raises(Cancelled):
        write_archive(apply(Plan(), open_archive(src)), out, progress=on_progress, cancel=cancel)
    assert out.read_bytes() == b"previous content"
    assert not [p for p in os.listdir(tmp_path) if TMP_MARK in p]


def test_failures_are_write_errors(tmp_path):
    src = _big_source(tmp_path, n=1)
    targets = apply(Plan(), open_archive(src))
    with pytest.raises(WriteError, match="does not exist"):
        write_archive(targets, tmp_path / "no" / "o.irpa")
    with pytest.raises(WriteError, match="is a directory"):
        write_archive(targets, tmp_path)


def test_file_size_limit_mid_write(tmp_path):
    src = _big_source(tmp_path, n=4)
    out = tmp_path / "o.irpa"
    code = (
        "import resource, sys; from irpa_core.cli import main; "
        "resource.setrlimit(resource.RLIMIT_FSIZE, (2 << 20, 2 << 20)); "
        f"sys.exit(main(['convert', '--parameters={src}', '--output={out}', '--quiet']))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 1 and "file size limit" in r.stderr, r.stderr
    assert not out.exists() and not [p for p in os.listdir(tmp_path) if TMP_MARK in p]


def test_source_changing_during_copy_is_refused(tmp_path):
    src = _big_source(tmp_path)
    out = tmp_path / "o.irpa"

    def on_progress(ev):
        if ev.index == 2 and ev.bytes_done == 2 << 20:
            with open(src, "r+b") as f:
                f.seek(100)
                f.write(b"x")
            os.utime(src, ns=(1, 1))

    with pytest.raises(ArchiveError, match="changed while it was being copied"):
        write_archive(apply(Plan(), open_archive(src)), out, progress=on_progress)
    assert not out.exists()


def test_leftovers_of_dead_writers_are_cleaned(tmp_path):
    out = tmp_path / "o.irpa"
    dead = tmp_path / f".o.irpa{TMP_MARK}999999999-abcd"
    dead.write_bytes(b"partial")
    other = tmp_path / f".other.irpa{TMP_MARK}999999999-abcd"
    other.write_bytes(b"x")
    src = _big_source(tmp_path, n=1)
    assert main(["convert", f"--parameters={src}", f"--output={out}", "--quiet"]) == 0
    assert not dead.exists() and other.exists()
    assert clean_leftovers(tmp_path / "other.irpa") == [str(other)]


def _odd_source(tmp_path):
    # Odd lengths, so source offsets are unaligned and entries end mid-page;
    # small entries share a mapped window, large ones span several.
    rng = np.random.default_rng(3)
    return make_safetensors(
        tmp_path / "odd.safetensors",
        {
            "a": rng.standard_normal(30_001).astype(np.float32),
            "b": np.arange(7, dtype=np.int8),
            "c": rng.standard_normal(100_003).astype(np.float16),
            **{f"s{i}": np.arange(i * 13 + 1, dtype=np.int16) for i in range(40)},
        },
    )


@pytest.mark.parametrize("method", ["mmap", "copy_file_range", "sendfile", "preadv"])
def test_every_copy_method_writes_the_sources_bytes(tmp_path, monkeypatch, method):
    # Each method alone ("preadv": every kernel-side method off), entries
    # spanning several copy steps; checked with IREE's runtime.
    monkeypatch.setattr(W, "WINDOW", 40_000)
    monkeypatch.setattr(S, "WINDOW", 40_000)
    monkeypatch.setattr(S, "_methods", {k: k == method for k in S._methods})
    src = _odd_source(tmp_path)
    out = tmp_path / "o.irpa"
    write_archive(apply(Plan(), open_archive(src)), out)
    assert {k: e.data for k, e in oracle.load(out).items()} == {k: e.data for k, e in oracle.load(src).items()}
    assert [k for k, on in S._methods.items() if on] == ([method] if method in S._methods else [])


def test_unmappable_source_falls_back_to_copy_file_range(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError(errno.ENODEV, "No such device")

    monkeypatch.setattr(S, "_methods", dict(S._methods, mmap=True))
    monkeypatch.setattr(S.mmap, "mmap", refuse)
    src = _odd_source(tmp_path)
    out = tmp_path / "o.irpa"
    write_archive(apply(Plan(), open_archive(src)), out)
    assert {k: e.data for k, e in oracle.load(out).items()} == {k: e.data for k, e in oracle.load(src).items()}
    assert S._methods["mmap"] is False


def test_source_shrinking_during_a_mapped_copy_is_an_error(tmp_path, monkeypatch):
    # The next window runs past the new end: mmap's own length check makes it
    # an error naming the parameter, never a SIGBUS that kills the process.
    monkeypatch.setattr(W, "WINDOW", 64 << 10)
    monkeypatch.setattr(S, "WINDOW", 64 << 10)
    monkeypatch.setattr(S, "_methods", dict(S._methods, mmap=True))
    src = _big_source(tmp_path, n=2)
    out = tmp_path / "o.irpa"
    out.write_bytes(b"previous content")

    def on_progress(ev):
        if ev.index == 0 and ev.bytes_done == 256 << 10:
            os.truncate(src, 512 << 10)

    with pytest.raises(ArchiveError, match="shrank while the data of 't0' was being copied"):
        write_archive(apply(Plan(), open_archive(src)), out, progress=on_progress)
    assert out.read_bytes() == b"previous content"
    assert not [p for p in os.listdir(tmp_path) if TMP_MARK in p]
    assert S._methods["mmap"], "a shrunken source must not switch the fast copy off"


def test_efault_inside_a_mapped_copy_is_an_error(tmp_path, monkeypatch):
    # The other way a source can shrink under a mapped copy: between the map
    # and the pwrite, which then fails with EFAULT.
    monkeypatch.setattr(S, "_methods", dict(S._methods, mmap=True))
    real_pwrite = os.pwrite

    def pwrite(fd, data, off):
        if off:  # the header goes to offset 0; tensor data after it
            raise OSError(errno.EFAULT, "Bad address")
        return real_pwrite(fd, data, off)

    monkeypatch.setattr(W.os, "pwrite", pwrite)
    src = _big_source(tmp_path, n=1)
    out = tmp_path / "o.irpa"
    with pytest.raises(ArchiveError, match="shrank while the data of 't0' was being copied"):
        write_archive(apply(Plan(), open_archive(src)), out)
    assert not out.exists() and not [p for p in os.listdir(tmp_path) if TMP_MARK in p]


def test_source_descriptors_are_closed_after_every_write(tmp_path):
    # Two source files, each opened once per write; none left open after a
    # write that succeeds, fails or is cancelled.
    a = make_safetensors(tmp_path / "a.safetensors", {"x": np.ones(300_000, np.float32)})
    b = make_safetensors(tmp_path / "b.safetensors", {"y": np.zeros(5, np.int8), "z": np.ones(7, np.float16)})
    targets = apply(Plan(), open_archive(a, b))
    fds = lambda: len(os.listdir("/proc/self/fd"))  # noqa: E731
    before = fds()
    write_archive(targets, tmp_path / "o.irpa")
    assert {k: e.data for k, e in oracle.load(tmp_path / "o.irpa").items()} == {
        k: e.data for k, e in oracle.load(a, b).items()
    }
    os.truncate(b, 100)
    with pytest.raises(ArchiveError):
        write_archive(targets, tmp_path / "p.irpa")
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        write_archive(targets, tmp_path / "q.irpa", cancel=cancel)
    assert fds() == before

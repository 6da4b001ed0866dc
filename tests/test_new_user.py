"""What a new user tripped on (issue 26, part a): a Hugging Face model
directory opens, plural words, integer metadata, the model summary."""

from __future__ import annotations

import numpy as np
import pytest

from irpa_core import ArchiveError, open_archive
from irpa_core.cli import main
from irpa_core.shards import pick_model
from tests.fixtures import make_gguf, make_safetensors

HF_SMALL = ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt", "README.md"]


@pytest.mark.parametrize(
    "files, chosen",
    [
        (HF_SMALL, "model.safetensors"),
        (["model.safetensors.index.json", "model-00001-of-00002.safetensors", "model.safetensors"], None),
        (["README.md", "m-00002-of-00002.gguf", "m-00001-of-00002.gguf"], "m-00001-of-00002.gguf"),
    ],
)
def test_pick_model_from_a_directory_listing(files, chosen):
    """One rule for a local directory and a Hub listing (tests/test_hub.py
    has the Hub's cases): the index first, else the one safetensors, else
    the one GGUF model."""
    assert pick_model("dir", files) == (chosen or "model.safetensors.index.json")


def test_hf_model_directory_opens(tmp_path, capsys):
    """A directory holding one model.safetensors beside config and tokenizer
    files opens as that file, from the API and the CLI."""
    d = tmp_path / "minilm"
    d.mkdir()
    make_safetensors(d / "model.safetensors", {"w": np.ones((2, 3), np.float32)})
    for name in HF_SMALL:
        if not (d / name).exists():
            (d / name).write_text("{}")
    (d / "onnx.safetensors").mkdir()  # a directory is not a candidate
    a = open_archive(str(d) + "/")
    assert [e.name for e in a.entries] == ["w"] and a.files[0].path == str(d / "model.safetensors")
    assert main(["dump", str(d)]) == 0
    assert "w" in capsys.readouterr().out


def test_model_directory_with_several_candidates_lists_them(tmp_path, capsys):
    make_safetensors(tmp_path / "a.safetensors", {"w": np.ones(2, np.float32)})
    make_safetensors(tmp_path / "b.safetensors", {"w": np.ones(2, np.float32)})
    with pytest.raises(ArchiveError, match=r"several safetensors files .*\(a\.safetensors, b\.safetensors\)"):
        open_archive(tmp_path)
    (tmp_path / "a.safetensors").unlink()
    (tmp_path / "b.safetensors").unlink()
    make_gguf(tmp_path / "q4.gguf", {"w": np.ones(2, np.float32)})
    make_gguf(tmp_path / "q8.gguf", {"w": np.ones(2, np.float32)})
    assert main(["dump", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "several GGUF models (q4.gguf, q8.gguf)" in err and f"give one as {tmp_path}/PATH" in err


# -- numbers and plurals ------------------------------------------------------


def test_whole_f32_numbers_read_as_numbers():
    from irpa_core.display import f32
    from irpa_core.metadata import scalar_text

    assert scalar_text(-1000.0, "f32") == "-1000.0" and scalar_text(1e6, "f32") == "1000000.0"
    assert f32(10000.0) == "10000.0" and f32(-0.0) == "-0.0"
    assert f32(float(np.float32(1e-6))) == "1e-06" and f32(float(np.float32(0.1))) == "0.1"  # f32 precision still
    assert f32(float(np.float32(3e38))) == "3e+38"  # past 1e16 the shortest form again


def test_plural():
    from irpa_core.display import plural

    assert plural(1, "entry", "entries") == "1 entry" and plural(0, "entry", "entries") == "0 entries"
    assert plural(1234, "tensor") == "1,234 tensors" and plural(1234, "byte", fmt="") == "1234 bytes"
    assert plural(1, "byte", fmt=">4") == "   1 byte"


def test_one_of_everything_reads_in_the_singular(tmp_path, capsys):
    p = make_safetensors(tmp_path / "one.safetensors", {"w": np.zeros(1, np.float32)})
    assert main(["dump", str(p)]) == 0
    out = capsys.readouterr().out
    assert f"# {p}: 1 entry, 4 bytes (4 B)" in out and "\n1 entry, 4 bytes (4 B)" in out
    assert "  f32               1 entry                  4 bytes (4 B)" in out
    assert main(["stats", str(p), "--anomalies"]) == 0
    out = capsys.readouterr().out
    assert "1 anomaly in 1 of 1 tensor scanned" in out and "its one value is zero" in out
    assert main(["info", str(p)]) == 0
    assert "parameters       1  in 1 tensor, 4 B" in capsys.readouterr().out


# -- the summary: modules and buffers -----------------------------------------


def test_summary_groups_modules_and_counts_buffers_apart(tmp_path, capsys):
    """A BERT-like file: a LayerNorm's weight and bias are one group, the
    i64 position_ids buffer is no parameter."""
    from irpa_core.naming import role
    from irpa_core.summary import summarize

    assert role("embeddings.LayerNorm.bias") == role("embeddings.LayerNorm.weight") == "embeddings.LayerNorm"
    assert role("blk.3.attn_q.bias") == "attn_q" and role("layers.3.bias") == "bias"
    tensors = {
        "embeddings.position_ids": np.arange(8, dtype=np.int64)[None],
        "embeddings.LayerNorm.weight": np.ones(4, np.float32),
        "embeddings.LayerNorm.bias": np.zeros(4, np.float32),
        "encoder.layer.0.attention.self.query.weight": np.ones((4, 4), np.float32),
        "encoder.layer.0.attention.self.query.bias": np.zeros(4, np.float32),
        "qweight": np.ones((2, 2), np.int32),  # packed quantized weights stay parameters
    }
    p = make_safetensors(tmp_path / "model.safetensors", tensors)
    s = summarize(open_archive(p))
    groups = {g.role: g for g in s.groups}
    assert groups["embeddings.LayerNorm"].mix == "f32 x2" and groups["embeddings.LayerNorm"].elements == 8
    assert groups["attention.self.query"].elements == 20
    assert s.buffers == ("embeddings.position_ids",) and (s.buffer_elements, s.buffer_bytes) == (8, 64)
    assert s.tensors == 5 and s.parameters == 8 + 20 + 4
    assert [sh.dtype for sh in s.by_dtype] == ["f32", "i32"]  # the buffer is not in the dtype mix
    assert main(["info", str(p)]) == 0
    out = capsys.readouterr().out
    assert "parameters       32  in 5 tensors" in out
    assert "buffers          1 tensor, 8 elements  64 B of integer indices or masks, not parameters: " in out
    assert "embeddings.position_ids" in out.split("buffers", 1)[1].splitlines()[0]

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

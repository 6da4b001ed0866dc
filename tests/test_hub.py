"""hf:// parsing, URL building and the choice of files (no network)."""

from __future__ import annotations

import json

import pytest

from irpa_core import ArchiveError
from irpa_core.hub import HfPath, parse_hf, same_origin, stored_token_path, token_for
from irpa_core.shards import index_shards, pick_model, split_gguf_shards


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("hf://org/repo", HfPath("org/repo")),
        ("hf://org/repo/model.gguf", HfPath("org/repo", "model.gguf")),
        ("hf://org/repo@v1.0/sub/dir/w.safetensors", HfPath("org/repo", "sub/dir/w.safetensors", "v1.0")),
        ("hf://org/repo@refs/pr/12/model.gguf", HfPath("org/repo", "model.gguf", "refs/pr/12")),
        ("hf://org/repo@feature%2Fx/a.gguf", HfPath("org/repo", "a.gguf", "feature/x")),
        ("hf://org/repo@abc123", HfPath("org/repo", "", "abc123")),
        ("hf://datasets/org/set/data.safetensors", HfPath("org/set", "data.safetensors", None, "dataset")),
        ("hf://Org-1/Re.po_2/", HfPath("Org-1/Re.po_2")),
    ],
)
def test_parse(spec: str, expected: HfPath) -> None:
    assert parse_hf(spec) == expected
    assert parse_hf(str(expected)) == expected  # str() round-trips


@pytest.mark.parametrize(
    "spec",
    [
        "hf://",
        "hf://org",
        "hf://org/",
        "hf://org/repo@",
        "hf://org/repo@/x",
        "hf://org/repo/a/../b",
        "hf://org/repo/a//b",
        "hf://-org/repo",
        "hf://org/re po/x",
        "http://org/repo",
    ],
)
def test_parse_rejects(spec: str) -> None:
    with pytest.raises(ArchiveError) as e:
        parse_hf(spec)
    assert "\n" not in str(e.value)


def test_urls_quote_revision_and_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    p = parse_hf("hf://org/repo@refs/pr/3/dir/my model#1.gguf")
    assert p.resolve_url() == "https://huggingface.co/org/repo/resolve/refs%2Fpr%2F3/dir/my%20model%231.gguf"
    assert p.api_url() == "https://huggingface.co/api/models/org/repo/revision/refs%2Fpr%2F3"
    assert parse_hf("hf://org/repo/x").resolve_url() == "https://huggingface.co/org/repo/resolve/main/x"
    assert parse_hf("hf://datasets/o/d/x").resolve_url() == "https://huggingface.co/datasets/o/d/resolve/main/x"
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9/")
    assert parse_hf("hf://org/repo/x").resolve_url() == "http://127.0.0.1:9/org/repo/resolve/main/x"


def test_token_only_for_the_endpoint_origin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.example")
    monkeypatch.setenv("HF_TOKEN", "tok")
    assert token_for("https://hub.example/o/r/resolve/main/x") == "tok"
    assert token_for("https://HUB.example:443/x") == "tok"
    assert token_for("http://hub.example/x") is None  # another scheme
    assert token_for("https://hub.example:8443/x") is None  # another port
    assert token_for("https://cdn.example/x") is None
    assert token_for("https://hub.example.evil/x") is None
    assert same_origin("http://a:80/x", "http://a/y")


def test_stored_token_when_no_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.example")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_TOKEN_PATH", str(tmp_path / "token"))
    assert token_for("https://hub.example/x") is None  # no file: no token
    (tmp_path / "token").write_text("stored\n")
    assert token_for("https://hub.example/x") == "stored"
    assert token_for("https://cdn.example/x") is None
    monkeypatch.setenv("HF_TOKEN", "env")  # the environment wins over the file
    assert token_for("https://hub.example/x") == "env"
    monkeypatch.delenv("HF_TOKEN")
    (tmp_path / "token").write_bytes(b"\xff\xfe")
    with pytest.raises(ArchiveError, match=r"token: cannot read the stored Hugging Face token .*set HF_TOKEN"):
        token_for("https://hub.example/x")


def test_stored_token_path_as_the_hub_documents(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    for var in ("HF_TOKEN_PATH", "HF_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert stored_token_path() == str(tmp_path / ".cache" / "huggingface" / "token")
    monkeypatch.setenv("XDG_CACHE_HOME", "/xdg")
    assert stored_token_path() == "/xdg/huggingface/token"
    monkeypatch.setenv("HF_HOME", "/hf")
    assert stored_token_path() == "/hf/token"
    monkeypatch.setenv("HF_TOKEN_PATH", "~/tok")
    assert stored_token_path() == str(tmp_path / "tok")


REPO = HfPath("org/repo")


@pytest.mark.parametrize(
    "files, chosen",
    [
        (
            [
                "README.md",
                "model.safetensors.index.json",
                "model-00001-of-00002.safetensors",
                "model-00002-of-00002.safetensors",
                "model.gguf",
            ],
            "model.safetensors.index.json",
        ),
        (["config.json", "model.safetensors", "q4.gguf"], "model.safetensors"),
        (["m-00001-of-00003.gguf", "m-00002-of-00003.gguf", "m-00003-of-00003.gguf"], "m-00001-of-00003.gguf"),
        (["README.md", "tiny.GGUF"], "tiny.GGUF"),
    ],
)
def test_pick_file(files: list[str], chosen: str) -> None:
    assert pick_model(str(REPO), files) == chosen


@pytest.mark.parametrize(
    "files, message",
    [
        (
            ["a.safetensors", "b.safetensors"],
            r"several safetensors files .*a\.safetensors, b\.safetensors.*hf://org/repo/PATH",
        ),
        (
            ["q4.gguf", "q8.gguf", "x-00001-of-00002.gguf", "x-00002-of-00002.gguf"],
            r"several GGUF models \(q4\.gguf, q8\.gguf, x-00001-of-00002\.gguf\)",
        ),
        (["README.md", "pytorch_model.bin"], "holds no model.safetensors.index.json, safetensors or GGUF"),
        ([f"m{i}.gguf" for i in range(20)], "and 12 more"),
    ],
)
def test_pick_file_asks_for_a_path(files: list[str], message: str) -> None:
    with pytest.raises(ArchiveError, match=message) as e:
        pick_model(str(REPO), files)
    assert "\n" not in str(e.value)


def test_index_shards() -> None:
    doc = {"metadata": {}, "weight_map": {"a": "s-2.safetensors", "b": "s-1.safetensors", "c": "s-2.safetensors"}}
    assert index_shards("i", json.dumps(doc).encode()) == ["s-2.safetensors", "s-1.safetensors"]
    for bad in ("../x.safetensors", "/etc/x", "https://evil/x"):
        with pytest.raises(ArchiveError, match="points outside"):
            index_shards("i", json.dumps({"weight_map": {"a": bad}}).encode())
    with pytest.raises(ArchiveError, match="not valid JSON"):
        index_shards("i", b"{")
    with pytest.raises(ArchiveError, match="weight_map"):
        index_shards("i", b"[]")


def test_split_gguf_shards() -> None:
    assert split_gguf_shards("d/m-00001-of-00003.gguf") == [
        "d/m-00001-of-00003.gguf",
        "d/m-00002-of-00003.gguf",
        "d/m-00003-of-00003.gguf",
    ]
    assert split_gguf_shards("m-00002-of-00003.gguf") is None
    assert split_gguf_shards("m-00001-of-00001.gguf") is None
    assert split_gguf_shards("m.gguf") is None

"""Finding an archive's tokenizer: a GGUF file's ``tokenizer.ggml.*``
metadata (an irpa's ``__SHARK_DATASET__`` keys too), else a Hugging Face
``tokenizer.json`` beside a safetensors file (as ``summary`` finds
``config.json``)."""

from __future__ import annotations

import os

from ..errors import TokenizerError
from ..formats import registry
from ..model import Archive
from .core import Tokenizer

# tokenizer.ggml.model values llama.cpp knows that we do not tokenize, and why.
_REFUSED = {
    "rwkv": "RWKV's trie tokenizer",
    "plamo2": "PLaMo-2's Aho-Corasick tokenizer",
    "hybriddna": "a DNA k-mer tokenizer",
    "whitespace": "a whitespace-split tokenizer",
    "test": "llama.cpp's test tokenizer",
}
MODEL_KEY = "tokenizer.ggml.model"


def load_tokenizer(archive: Archive) -> Tokenizer:
    """The tokenizer of ``archive``, which tokenizes as llama.cpp's
    ``llama_tokenize`` does: from the first GGUF file with
    ``tokenizer.ggml.model`` (``llama`` SPM, ``gpt2`` byte-level BPE with
    the pre-tokenizer ``tokenizer.ggml.pre`` names, ``bert`` WordPiece,
    ``t5`` Unigram), or an irpa's ``__SHARK_DATASET__`` keys, else from a
    ``tokenizer.json`` beside a safetensors file (through the
    ``tokenizers`` package). Raises TokenizerError (an IrpaError) naming
    the file and why: no tokenizer, or a type not covered (by name).

    Example::

        tok = load_tokenizer(open_archive("model.gguf"))
        ids = tok.encode("<start_of_turn>user\nHi<end_of_turn>")
        print(ids, [tok.piece(i) for i in ids], tok.decode(ids))
    """
    first = archive.files[0].path if archive.files else "(no file)"
    for f in archive.files:
        if MODEL_KEY in f.metadata:
            return from_metadata(f.path, f.metadata)
    for f in archive.files:
        meta = _dataset_metadata(archive, f.path)
        if meta is not None and MODEL_KEY in meta:
            return from_metadata(f.path, meta)
    seen: set[str] = set()
    for f in archive.files:
        spec = registry.find(f.format)
        if spec is None or not spec.config_beside:
            continue
        d = os.path.dirname(os.path.abspath(f.path))
        if d in seen:
            continue
        seen.add(d)
        path = os.path.join(d, "tokenizer.json")
        if os.path.isfile(path):
            from .hf import HFTokenizer

            return HFTokenizer(path)
    hint = "no 'tokenizer.ggml.model' key"
    if any((registry.find(f.format) or registry.get("gguf")).config_beside for f in archive.files):
        hint += " and no tokenizer.json beside it"
    raise TokenizerError(first, f"no tokenizer: {hint}")


def _dataset_metadata(archive: Archive, path: str) -> dict | None:
    """An irpa's ``__SHARK_DATASET__`` key/values (GGUF metadata kept by sharktank)."""
    from ..formats import dataset_meta
    from ..model import DATA, read_bytes

    for e in archive.entries:
        if e.file == path and e.name == dataset_meta.NAME and e.kind == DATA and e.length < (256 << 20):
            try:
                meta, _types = dataset_meta.decode(read_bytes(e))
            except (ValueError, OSError):
                return None
            return meta
    return None


def from_metadata(path: str, meta) -> Tokenizer:
    """A tokenizer from GGUF-style ``tokenizer.ggml.*`` metadata."""
    from .vocab import Vocab

    model = meta.get(MODEL_KEY)
    if not isinstance(model, str):
        raise TokenizerError(path, f"'{MODEL_KEY}' is not a string")
    if model in ("no_vocab", "none"):
        raise TokenizerError(path, f"no tokenizer: '{MODEL_KEY}' is '{model}' (a model without a vocabulary)")
    if model in _REFUSED:
        raise TokenizerError(path, f"unsupported tokenizer type '{model}' ({_REFUSED[model]})")
    if model not in ("llama", "gpt2", "gemma4", "bert", "t5"):
        raise TokenizerError(path, f"unknown tokenizer type '{model}' ({MODEL_KEY})")
    vocab = Vocab(path, meta)
    tok_model: object
    if model == "llama":
        from . import spm

        spm.setup(vocab)
        vocab.finish()
        tok_model = spm.SPM(vocab)
    elif model in ("gpt2", "gemma4"):
        from . import bpe

        pre = bpe.setup(vocab)
        vocab.finish()
        if pre == "gemma4":
            vocab.add_bos = True  # llama.cpp's override for Gemma 4
        tok_model = bpe.BPE(vocab, pre)
    elif model == "bert":
        from . import wpm

        wpm.setup(vocab)
        vocab.finish()
        tok_model = wpm.WPM(vocab)
    else:
        from . import ugm

        ugm.setup(vocab)
        vocab.finish()
        tok_model = ugm.UGM(vocab)
    return Tokenizer(vocab, tok_model)

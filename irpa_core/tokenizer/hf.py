"""A Hugging Face ``tokenizer.json`` (beside a safetensors checkpoint),
through the ``tokenizers`` package, behind the same interface as a GGUF
vocabulary. BOS/EOS are what its post-processor adds; the names of the
special tokens come from ``tokenizer_config.json`` and
``special_tokens_map.json`` beside it when they are there.
"""

from __future__ import annotations

import json
import os
import re

from ..errors import TokenizerError
from .attrs import BYTE, CONTROL, NORMAL, UNKNOWN, USER_DEFINED
from .core import Tokenizer

_BYTE_TOKEN = re.compile(r"<0x[0-9A-F]{2}>")


class HFTokenizer(Tokenizer):
    """``tokenizers.Tokenizer.from_file(path)`` with the ``Tokenizer`` interface."""

    def __init__(self, path: str):
        try:
            from tokenizers import Tokenizer as _HF
        except ImportError as e:  # pragma: no cover - a dependency
            raise TokenizerError(path, f"the 'tokenizers' package is needed to read it ({e})") from None
        try:
            self.hf = _HF.from_file(path)
        except Exception as e:  # the package raises plain Exceptions for bad files
            raise TokenizerError(path, f"not a tokenizer.json the 'tokenizers' package reads: {e}") from None
        # A prompt as the model sees it: not padded or cut to a training length.
        self.hf.no_padding()
        self.hf.no_truncation()
        try:
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
        except (OSError, ValueError) as e:
            raise TokenizerError(path, f"cannot read it: {e}") from None
        self.path = path
        self.kind = "hf"
        model = doc.get("model") or {}
        self.model_type = str(model.get("type", ""))
        self.n_vocab = self.hf.get_vocab_size(with_added_tokens=True)
        added = doc.get("added_tokens") or []
        self._added = {int(t["id"]): bool(t.get("special")) for t in added if isinstance(t, dict) and "id" in t}
        self._scores: dict[str, float] = {}
        if self.model_type == "Unigram":
            for item in model.get("vocab") or []:
                if isinstance(item, list) and len(item) == 2:
                    self._scores[str(item[0])] = float(item[1])
        unk = model.get("unk_token")
        if isinstance(model.get("unk_id"), int):
            self.unk_id = model["unk_id"]
        else:
            self.unk_id = self.hf.token_to_id(unk) if isinstance(unk, str) else None
        names = _special_names(os.path.dirname(os.path.abspath(path)))
        self.bos_id = self._named(names, "bos_token", "cls_token")
        self.eos_id = self._named(names, "eos_token", "sep_token")
        self.pad_id = self._named(names, "pad_token")
        self.eot_id = None
        # What the post-processor adds around a text: BOS before, EOS after.
        plain = self.hf.encode("a", add_special_tokens=False).ids
        full = self.hf.encode("a", add_special_tokens=True).ids
        at = _find(full, plain)
        before, after = (full[:at], full[at + len(plain) :]) if at >= 0 else ([], [])
        if self.bos_id is None and before:
            self.bos_id = before[0]
        if self.eos_id is None and after:
            self.eos_id = after[-1]
        self.add_bos = bool(before) and before[0] == self.bos_id
        self.add_eos = bool(after) and after[-1] == self.eos_id

    def _named(self, names: dict[str, str], *keys: str) -> int | None:
        for k in keys:
            name = names.get(k)
            if name is not None:
                tid = self.hf.token_to_id(name)
                if tid is not None:
                    return tid
        return None

    @property
    def pre(self) -> str:
        return self.model_type

    def encode(self, text: str, *, add_special: bool = True, parse_special: bool = True) -> list[int]:
        hf = self.hf
        hf.encode_special_tokens = not parse_special
        try:
            return list(hf.encode(text, add_special_tokens=add_special).ids)
        finally:
            hf.encode_special_tokens = False

    def piece(self, token_id: int) -> str:
        return self.hf.id_to_token(self._check(token_id)) or ""

    def token_id(self, piece: str) -> int | None:
        return self.hf.token_to_id(piece)

    def token_type(self, token_id: int) -> int:
        self._check(token_id)
        special = self._added.get(token_id)
        if special is not None:
            return CONTROL if special else USER_DEFINED
        if token_id == self.unk_id:
            return UNKNOWN
        if _BYTE_TOKEN.fullmatch(self.piece(token_id)):
            return BYTE
        return NORMAL

    def score(self, token_id: int) -> float | None:
        return self._scores.get(self.piece(token_id)) if self._scores else None

    def merge_rank(self, token_id: int) -> int | None:
        return None

    def decode(self, ids: list[int]) -> str:
        return self.hf.decode([self._check(i) for i in ids], skip_special_tokens=False)


def _find(seq: list[int], part: list[int]) -> int:
    n = len(part)
    for i in range(len(seq) - n + 1):
        if seq[i : i + n] == part:
            return i
    return -1


def _special_names(directory: str) -> dict[str, str]:
    """Special token names (``bos_token``...) from ``tokenizer_config.json``,
    then ``special_tokens_map.json``; a value may be a string or
    ``{"content": ...}``."""
    out: dict[str, str] = {}
    for fn in ("special_tokens_map.json", "tokenizer_config.json"):
        try:
            with open(os.path.join(directory, fn), encoding="utf-8") as f:
                doc = json.load(f)
        except (OSError, ValueError):
            continue
        if not isinstance(doc, dict):
            continue
        for k in ("bos_token", "eos_token", "pad_token", "cls_token", "sep_token", "unk_token"):
            v = doc.get(k)
            if isinstance(v, dict):
                v = v.get("content")
            if isinstance(v, str):
                out[k] = v
    return out

"""A GGUF vocabulary read from its metadata, as llama.cpp's
``llama_vocab::impl::load`` reads it: the tokens, scores and types, the
special ids with each model's defaults, the ``add_*`` flags, and the
attributes llama.cpp gives tokens by their text (end-of-turn and
fill-in-the-middle tokens become control tokens, so that they are cut out
of text as special tokens).

Arrays are decoded straight from the header bytes: numbers with numpy,
the strings of a 262,144-token vocabulary in one pass.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from itertools import repeat

from ..errors import TokenizerError
from .attrs import (
    A_CONTROL,
    A_LSTRIP,
    A_NORMAL,
    A_RSTRIP,
    A_UNUSED,
    A_USER_DEFINED,
    NORMAL,
    SPECIAL_ATTRS,
    TYPE_ATTR,
)

# Tokens llama.cpp treats as control tokens by their text (end of turn,
# end of generation, fill-in-the-middle), whatever type the file gives them.
_EOT = (
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>", "<EOT>",
    "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>",
)  # fmt: skip
_FIM = (
    ("<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>", "<|code_prefix|>",
     "<|prefix|>"),
    ("<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>", "<|code_suffix|>",
     "<|suffix|>"),
    ("<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>", "<|code_middle|>",
     "<|middle|>"),
    ("<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"),
    ("<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"),
    ("<|file_sep|>",),
    ("<|eom_id|>",),
)  # fmt: skip
_EOG = (
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>", "<end_of_turn>",
    "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>",
    "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>", "<｜end▁of▁sentence｜>", "[e~[",
)  # fmt: skip

_U64 = struct.Struct("<Q")
KEY = "tokenizer.ggml."


class Vocab:
    """Everything a tokenizer needs from the metadata. ``tokens`` as stored
    (bytes that are not UTF-8 kept as ``surrogateescape`` characters),
    ``token_to_id`` (the last id of a repeated string wins, as in
    llama.cpp), ``attrs`` (llama.cpp's attribute bits), ``special``: the
    ids cut out of text before tokenizing, longest first."""

    def __init__(self, path: str, meta: Mapping[str, object]):
        self.path = path
        self.meta = meta
        self.model = self.string("model")
        self.pre = self.string("pre", "")
        tokens = self.strings("tokens")
        if tokens is None:
            raise TokenizerError(path, f"'{KEY}model' is '{self.model}' but there is no '{KEY}tokens'")
        if "" in tokens:
            for i, t in enumerate(tokens):
                if not t:
                    tokens[i] = f"[EMPTY_{i}]"  # as llama.cpp renames them
        self.tokens: list[str] = tokens
        n = len(tokens)
        self.token_to_id: dict[str, int] = dict(zip(tokens, range(n)))
        self.max_token_len = max(map(len, tokens), default=0)
        self.scores: list[float] | None = self.numbers("scores", n, ("f32", "i32"))
        types = self.numbers("token_type", n, ("i32",))
        self.types: list[int] | None = types
        if types is None:
            self.attrs: list[int] = [A_NORMAL] * n
        else:
            import numpy as np

            lut = np.zeros(max(TYPE_ATTR) + 1, np.int64)
            for kind, bit in TYPE_ATTR.items():
                lut[kind] = bit
            arr = np.asarray(types[:n], np.int64)
            known = (arr >= 0) & (arr < len(lut))
            self.attrs = np.where(known, lut[np.where(known, arr, 0)], 0).tolist()
        # Set by the model's defaults, then by the metadata (load_flags).
        self.bos_id: int | None = None
        self.eos_id: int | None = None
        self.eot_id: int | None = None
        self.unk_id: int | None = None
        self.sep_id: int | None = None
        self.pad_id: int | None = None
        self.add_bos = self.add_eos = self.add_sep = False
        self.add_space_prefix = False
        self.remove_extra_whitespaces = False
        self.escape_whitespaces = True
        self.clean_spaces = False
        self.special: list[int] = []

    # -- metadata access, with the file and key in every error ------------

    def value(self, key: str, default=None):
        return self.meta.get(KEY + key, default)

    def string(self, key: str, default: str | None = None) -> str:
        v = self.value(key, default)
        if not isinstance(v, str):
            if v is None:
                raise TokenizerError(self.path, f"no '{KEY}{key}'")
            raise TokenizerError(self.path, f"'{KEY}{key}' is not a string")
        return v

    def flag(self, key: str, default: bool) -> bool:
        v = self.value(key)
        return v if isinstance(v, bool) else default

    def token(self, key: str, default: int | None) -> int | None:
        """A special token id: the metadata's when it is in range, else the
        model's default (itself dropped when out of range), as llama.cpp."""
        n = len(self.tokens)
        if default is not None and not 0 <= default < n:
            default = None
        v = self.value(key)
        if isinstance(v, int) and not isinstance(v, bool) and 0 <= v < n:
            return v
        return default

    def _array(self, key: str):
        v = self.value(key)
        if v is None:
            return None
        from ..formats.gguf import GGUFArray

        if not isinstance(v, GGUFArray):
            if isinstance(v, tuple) and len(v) == 2 and isinstance(v[1], list):  # an irpa's dataset entry
                return v
            raise TokenizerError(self.path, f"'{KEY}{key}' is not an array")
        return v

    def strings(self, key: str) -> list[str] | None:
        arr = self._array(key)
        if arr is None:
            return None
        if isinstance(arr, tuple):
            return [str(x) for x in arr[1]]
        if arr.type_name != "string":
            raise TokenizerError(self.path, f"'{KEY}{key}' is an array of {arr.type_name}, not of strings")
        return decode_strings(arr.header, arr.offset, arr.count, self.path, KEY + key)

    def numbers(self, key: str, n: int, kinds: tuple[str, ...]) -> list | None:
        arr = self._array(key)
        if arr is None:
            return None
        if isinstance(arr, tuple):
            items = list(arr[1])
        else:
            if arr.type_name not in kinds:
                raise TokenizerError(
                    self.path, f"'{KEY}{key}' is an array of {arr.type_name}, not {' or '.join(kinds)}"
                )
            import numpy as np

            dtype = {"f32": "<f4", "i32": "<i4"}[arr.type_name]
            items = np.frombuffer(arr.header, dtype, arr.count, arr.offset).tolist()
        if len(items) < n:
            raise TokenizerError(self.path, f"'{KEY}{key}' has {len(items)} items for {n} tokens")
        return items

    def type_of(self, token_id: int) -> int:
        return self.types[token_id] if self.types is not None else NORMAL

    # -- what llama.cpp decides from the text of tokens -------------------

    def finish(self) -> None:
        """Special ids and flags from the metadata, attributes by text, and
        the list of special tokens (after the model set its defaults)."""
        self.bos_id = self.token("bos_token_id", self.bos_id)
        self.eos_id = self.token("eos_token_id", self.eos_id)
        self.eot_id = self.token("eot_token_id", None)
        self.unk_id = self.token("unknown_token_id", self.unk_id)
        self.sep_id = self.token("seperator_token_id", self.sep_id)
        self.pad_id = self.token("padding_token_id", self.pad_id)
        self.add_bos = self.flag("add_bos_token", self.add_bos)
        self.add_eos = self.flag("add_eos_token", self.add_eos)
        self.add_sep = self.flag("add_sep_token", self.add_sep)
        ids, attrs = self.token_to_id, self.attrs
        eot = next((ids[t] for t in _EOT if t in ids), None)
        if self.eot_id is None:
            self.eot_id = eot
            if eot is not None:
                attrs[eot] |= A_CONTROL
        for names in _FIM:
            found = next((ids[t] for t in names if t in ids), None)
            if found is not None:
                attrs[found] |= A_CONTROL
        for t in _EOG:
            if t in ids:
                attrs[ids[t]] |= A_CONTROL
        for t in ("<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"):  # gpt-oss: always rendered
            if t in ids:
                attrs[ids[t]] = A_USER_DEFINED
        if all(t in ids for t in ("<|return|>", "<|call|>", "<|end|>")) or all(
            t in ids for t in ("<|calls|>", "<|flush|>", "<|end|>")
        ):
            attrs[ids["<|end|>"]] = A_USER_DEFINED
        if "</s>" in ids and "<|tool_response>" in ids:  # gemma4: a plain </s>
            attrs[ids["</s>"]] = A_NORMAL
        import numpy as np

        tokens = self.tokens
        bits = np.asarray(attrs, np.int64)
        for i in np.flatnonzero(bits & A_CONTROL).tolist():
            if "unused" in tokens[i]:
                attrs[i] |= A_UNUSED
        special = np.flatnonzero(bits & SPECIAL_ATTRS).tolist()
        special.sort(key=lambda i: -len(tokens[i].encode("utf-8", "surrogateescape")))
        self.special = special
        self._strip_attrs()

    def _strip_attrs(self) -> None:
        """Tokens that swallow the spaces beside them, by model name (as llama.cpp)."""
        name = str(self.meta.get("general.name", "")).lower()
        arch = str(self.meta.get("general.architecture", ""))
        ids, attrs = self.token_to_id, self.attrs
        if any(p in self.pre for p in ("jina-v2-de", "jina-v2-es", "jina-v2-code")) or any(
            a in arch for a in ("nomic-bert-moe", "jina-bert-v3")
        ):
            if "<mask>" in ids:
                attrs[ids["<mask>"]] |= A_LSTRIP
        elif "phi-3" in name or "phi3" in name:
            for i in self.special:
                attrs[i] |= A_RSTRIP
            if "</s>" in ids:
                attrs[ids["</s>"]] |= A_RSTRIP
            for t in ("<unk>", "<s>", "<|endoftext|>"):
                if t in ids:
                    attrs[ids[t]] &= ~A_RSTRIP
        elif "modern-bert" in name and "[MASK]" in ids:
            attrs[ids["[MASK]"]] |= A_LSTRIP


def decode_strings(buf, offset: int, count: int, path: str, what: str) -> list[str]:
    """``count`` GGUF strings (u64 length, then the bytes) from ``buf`` at
    ``offset``, decoded as UTF-8 with ``surrogateescape``. The lengths are
    walked in Python; then numpy turns each 8-byte length into one NUL and
    the whole array is decoded in one call and split (when no string holds
    a NUL itself; else one decode per string)."""
    import numpy as np

    unpack = _U64.unpack_from
    starts: list[int] = []
    mark = starts.append
    pos = offset
    try:
        for _ in repeat(None, count):
            mark(pos)
            pos += unpack(buf, pos)[0] + 8
    except struct.error:
        raise TokenizerError(path, f"'{what}' runs past the end of the file") from None
    if pos > len(buf):
        raise TokenizerError(path, f"'{what}' runs past the end of the file")
    if not count:
        return []
    data = np.frombuffer(buf, np.uint8, pos - offset, offset).copy()
    at = np.array(starts, np.int64) - offset
    keep = np.ones(len(data), bool)
    keep[(at[:, None] + np.arange(1, 8)).ravel()] = False
    data[at] = 0
    joined = data[keep].tobytes()
    if joined.count(0) == count:
        return joined[1:].decode("utf-8", "surrogateescape").split("\0")
    ends = [*starts[1:], pos]
    return [bytes(buf[s + 8 : e]).decode("utf-8", "surrogateescape") for s, e in zip(starts, ends)]

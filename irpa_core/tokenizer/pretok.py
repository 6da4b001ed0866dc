"""BPE pre-tokenizers: the regular expressions llama.cpp splits text with
before merging, per ``tokenizer.ggml.pre`` (``llm_tokenizer_bpe``'s
table), and how it runs them (``unicode_regex_split``).

llama.cpp does not run these patterns with full Unicode classes: it
replaces each character outside ASCII by one byte standing for its class
(letter, number, punctuation, mark, symbol; any whitespace becomes
``\\v``; anything else ``\\xD0``) and each ``\\p{..}`` in the pattern by
that byte plus the ASCII members of the class, then runs an ECMAScript
regex over those bytes (where ``\\s`` is ASCII whitespace). Patterns
without a class run over the characters, non-ASCII whitespace again as
``\\v``. We do the same with Python's ``re`` over bytes (its ``\\s`` is
that ASCII set), which reproduces llama.cpp's splits exactly, its quirks
included. Character classes are llama.cpp's (``unicode.char_class``).
"""

from __future__ import annotations

import re

from .unicode import WHITESPACE, char_class

# pre name -> (pattern set, ignore_merges, add_bos, clean_spaces, escape_whitespaces)
# (llama_vocab::impl::load). clean_spaces only changes decoding.
_L3 = (
    r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
    r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"
_QWEN2 = (
    r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"
    r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_DS3 = (
    r"""[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+|"""
    r" ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_GPT4O = (
    r"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+"
    r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|"
    r"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*"
    r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|"
    r"\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_CJK = "[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+"
_PORO = " ?[^(\\s|.,!?\u2026\u3002\uff0c\u3001\u0964\u06d4\u060c)]+"
PATTERNS: dict[str, list[str]] = {
    "default": [
        r"[\p{P}\$\+<=>\^~\|]+",
        r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)",
        r"\p{N}+",
        r"[0-9][0-9][0-9]",
    ],
    "llama3": [_L3],
    "jais2": [
        r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
        r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s{512}(?!\S)|\s{256}(?!\S)|\s{128}(?!\S)|\s{64}(?!\S)|"
        r"\s{32}(?!\S)|\s{16}(?!\S)|\s{8}(?!\S)|\s{4}(?!\S)|\s{1,2}(?!\S)|\s{1}"
    ],
    "deepseek-llm": [
        "[\r\n]",
        "\\s?[A-Za-z\xb5\xc0-\xd6\xd8-\xf6\xf8-\u01ba\u01bc-\u01bf\u01c4-\u0293\u0295-\u02af\u0370-\u0373"
        "\u0376\u0377\u037b-\u037d\u037f\u0386\u0388-\u038a\u038c\u038e-\u03a1\u03a3-\u03f5\u03f7-\u0481"
        "\u048a-\u052f\u0531-\u0556\u10a0-\u10c5\u13a0-\u13f5\u13f8-\u13fd\u1c90-\u1cba\u1cbd-\u1cbf"
        "\u1d00-\u1d2b\u1d6b-\u1d77\u1d79-\u1d9a\u1e00-\u1f15\u1f18-\u1f1d\u1f20-\u1f45\u1f48-\u1f4d"
        "\u1f50-\u1f57\u1f59\u1f5b\u1f5d\u1f5f-\u1f7d\u1f80-\u1fb4\u1fb6-\u1fbc\u1fbe\u1fc2-\u1fc4"
        "\u1fc6-\u1fcc\u1fd0-\u1fd3\u1fd6-\u1fdb\u1fe0-\u1fec\u1ff2-\u1ff4\u1ff6-\u1ffc\u2102\u2107"
        "\u210a-\u2113\u2115\u2119-\u211d\u2124\u2126\u2128\u212a-\u212d\u212f-\u2134\u2139\u213c-\u213f"
        "\u2145-\u2149\u214e\u2183\u2184\u2c00-\u2c7b\u2c7e-\u2ce4\u2ceb-\u2cee\u2cf2\u2cf3\ua640-\ua66d"
        "\ua680-\ua69b\ua722-\ua76f\ua771-\ua787\ua78b-\ua78e\uab70-\uabbf\ufb00-\ufb06\ufb13-\ufb17"
        "\uff21-\uff3a\uff41-\uff5a\U00010400-\U0001044f\U000104b0-\U000104d3\U000104d8-\U000104fb"
        "\U00010c80-\U00010cb2\U00010cc0-\U00010cf2\U000118a0-\U000118df\U0001e900-\U0001e943]+",
        "\\s?[!-/:-~\uff01-\uff0f\uff1a-\uff5e\u2018-\u201f\u3000-\u3002]+",
        "\\s+$",
        _CJK,
        r"\p{N}+",
    ],
    "deepseek-v3": [r"\p{N}{1,3}", "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+", _DS3],
    "deepseek-coder": ["[\r\n]", r"\s?\p{L}+", r"\s?\p{P}+", _CJK, r"\p{N}"],
    "falcon": [
        r"[\p{P}\$\+<=>\^~\|`]+",
        r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)",
        "[0-9][0-9][0-9]",
    ],
    "starcoder": [r"\p{N}", _GPT2],
    "gpt2": [_GPT2],
    "qwen2": [_QWEN2],
    "qwen35": [
        r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}|"
        r" ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
    ],
    "poro": [_PORO],
    "viking": [_PORO, r"\p{N}"],
    "tekken": [
        r"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+|"
        r"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*|"
        r"\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
    ],
    "chameleon": [
        "<sentinel:[0-9]+>",
        "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z",
        "([\\t\\n]|    |  )",
        r"\p{N}",
        r"[\p{P}!-/:-@\[-`{-~]",
        _GPT2,
    ],
    "gpt4o": [_GPT4O],
    "bailingmoe": [
        r"'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"
        r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+"
    ],
    "seed-coder": [
        r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}|"
        r" ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+"
    ],
    "ufakzeka": [r"[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"],
    "exaone-moe": [
        r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|"
        r"[^\r\n\p{L}\p{N}]?(?:\p{L}\p{M}*(?: \p{L}\p{M}*)*)+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]?|\s*[\r\n]|\s+(?!\S)|\s+"
    ],
    "youtu": [
        "[\uac00-\ud7a3\u3131-\u318e]+|[\uff01\u2026\u201c\u201d\u2018\u2019\u2014\uff1a\uff1b\uff0c\u3001-\u303f"
        "\ufe30-\ufe4f]+|[\u3105-\u312f]+|[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+",
        r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+"
        r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|"
        r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*"
        r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|"
        r"\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    ],
    "spark2_5": [
        r"\p{N}{1,3}",
        "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+",
        r"""[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^"""
        "\r\n"
        r"""\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+|["""
        "\r\n"
        r"""]|\s+(?!\S)|\s+""",
        r"\p{N}",
    ],
    "laguna": ["[^\\n]+|[\\n]+", _QWEN2],
    "granite-embed-multi-97m": [
        r"[^\r\n\p{L}\p{N}]?((?=[\p{L}\p{M}])([^a-z]))*((?=[\p{L}\p{M}])([^A-Z]))+"
        r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|"
        r"[^\r\n\p{L}\p{N}]?((?=[\p{L}\p{M}])([^a-z]))+((?=[\p{L}\p{M}])([^A-Z]))*"
        r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|"
        r"\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
    ],
    "newlines": ["[^\\n]+|[\\n]+"],
    "minicpm5": [
        r"\p{N}{1,3}",
        r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}+|"
        r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    ],
}


class Pre:
    """How one ``tokenizer.ggml.pre`` value tokenizes (llama_vocab::impl::load)."""

    __slots__ = ("add_bos", "clean_spaces", "escape_whitespaces", "ignore_merges", "no_bos", "patterns")

    def __init__(self, patterns: str, *, ignore_merges=False, add_bos=False, clean=True, escape=False, no_bos=False):
        self.patterns = patterns
        self.ignore_merges, self.add_bos, self.clean_spaces = ignore_merges, add_bos, clean
        self.escape_whitespaces, self.no_bos = escape, no_bos


def _names(spec: str, **kw) -> dict[str, Pre]:
    names, _, patterns = spec.partition("=")
    return {n: Pre(patterns or n, **kw) for n in names.split()}


# Each name llama.cpp accepts for tokenizer.ggml.pre, with its flags.
PRE: dict[str, Pre] = {
    **_names("default"),
    **_names("minicpm5", ignore_merges=True),
    **_names("llama3 llama-v3 llama-bpe falcon3 falcon-h1 pixtral midm-2.0 lfm2 jina-v5-nano=llama3",
             ignore_merges=True, add_bos=True),
    **_names("deepseek-llm", clean=False),
    **_names("deepseek-coder", clean=False),
    **_names("deepseek-v3 hunyuan-dense hy_v4 joyai-llm=deepseek-v3", clean=False),
    **_names("falcon"),
    **_names("mpt=gpt2"),
    **_names("starcoder refact codeshell exaone minerva-7b mellum2=starcoder"),
    **_names("command-r smollm=starcoder", clean=False),
    **_names("gpt-2 phi-2 jina-es jina-de gigachat jina-v2-es jina-v2-de a.x-4.0 mellum modern-bert jina-v1-en "
             "jina-v2-code roberta-bpe olmo jais exaone4=gpt2"),
    **_names("trillion granite-docling=gpt2", clean=False),
    **_names("jais-2=jais2"),
    **_names("gemma4 granite-embed-multi-311m=newlines", escape=True),
    **_names("sarvam-moe=newlines", escape=True, clean=False),
    **_names("qwen2 deepseek-r1-qwen kormo f2llmv2 hunyuan solar-open=qwen2", clean=False),
    **_names("stablelm2 megrez=qwen2"),
    **_names("qwen35", clean=False),
    **_names("dbrx smaug-bpe=llama3"),
    **_names("poro-chat=poro", clean=False),
    **_names("bloom gpt3-finnish=poro"),
    **_names("chatglm-bpe=llama3", no_bos=True),
    **_names("glm4 glm5=llama3", ignore_merges=True, no_bos=True),
    **_names("viking", clean=False),
    **_names("tekken", ignore_merges=True, add_bos=True, clean=False),
    **_names("chameleon", add_bos=True, clean=False),
    **_names("gpt-4o llama4 kanana2 talkie minimax-m2=gpt4o", clean=False),
    **_names("bailingmoe bailingmoe2 llada-moe=bailingmoe", clean=False),
    **_names("seed-coder", clean=False),
    **_names("ufakzeka", clean=False),
    **_names("grok-2=qwen2", clean=False),
    **_names("exaone-moe"),
    **_names("youtu", ignore_merges=True, clean=False),
    **_names("spark2_5", clean=False),
    **_names("laguna", clean=False),
    **_names("granite-embed-multi-97m", ignore_merges=True, clean=False),
}  # fmt: skip
# Names llama.cpp knows whose splitting is its own code, not a pattern:
# refused by name rather than tokenized differently.
UNSUPPORTED_PRE = {
    "kimi-k2", "afmoe", "tiny_aya", "cohere2moe", "superbpe", "whitespace",
}  # fmt: skip

_WIDE = {ord(c): "\v" for c in WHITESPACE if c > "\x7f"}
_CLASS_BYTE = {"N": 0xD1, "L": 0xD2, "P": 0xD3, "M": 0xD4, "S": 0xD5}
# The ASCII members of each class (llama.cpp's k_ucat_map), as regex text.
_ASCII_OF = {
    "N": rb"0-9",
    "L": rb"A-Za-z",
    "P": rb"!-#%-*,-/:-;?-@\[-\]_\{\}",
    "M": b"",
    "S": rb"\$\+<->\^`\|\~",
}
_UCAT = {"N": "N", "L": "L", "P": "P", "M": "M", "S": "S", "Lu": "L", "Ll": "L", "Lt": "L", "Lm": "L", "Lo": "L"}
_UCAT_RX = re.compile(r"\\p\{(\w{1,2})\}")


class _Collapse(dict):
    """``str.translate`` table: a character to the byte standing for its class."""

    def __init__(self):
        super().__init__((i, i) for i in range(128))

    def __missing__(self, code: int) -> int:
        ch = chr(code)
        b = 0x0B if ch in WHITESPACE else _CLASS_BYTE.get(char_class(ch), 0xD0)
        self[code] = b
        return b


_collapse: _Collapse | None = None


def collapse_table() -> _Collapse:
    global _collapse
    if _collapse is None:
        _collapse = _Collapse()
    return _collapse


def _translate(pattern: str) -> tuple[bool, re.Pattern]:
    """llama.cpp's rewriting of a pattern: (runs over class bytes, compiled)."""
    if not _UCAT_RX.search(pattern) or not all(m.group(1) in _UCAT for m in _UCAT_RX.finditer(pattern)):
        # A plain pattern over the characters: \s is ASCII whitespace; $ is the end of the piece.
        return False, re.compile(_end_anchor(pattern), re.ASCII)
    src = pattern.encode("ascii")
    out = bytearray()
    inside = False
    i = 0
    while i < len(src):
        c = src[i : i + 1]
        if c == b"[" and (i == 0 or src[i - 1 : i] != b"\\"):
            out += c
            inside = True
        elif inside and c == b"]" and src[i - 1 : i] != b"\\":
            out += c
            inside = False
        elif c == b"\\" and src[i + 1 : i + 3] == b"p{":
            close = src.index(b"}", i)
            cat = _UCAT[src[i + 3 : close].decode()]
            body = bytes([_CLASS_BYTE[cat]]) + _ASCII_OF[cat]
            out += body if inside else b"[" + body + b"]"
            i = close
        else:
            out += c
        i += 1
    return True, re.compile(_end_anchor(bytes(out)))


def _end_anchor(p):
    """ECMAScript's ``$`` (no multiline) is the end of input only; Python's
    also matches before a final newline: each unescaped ``$`` outside a
    character class becomes ``\\Z``."""
    text = p.decode("latin-1") if isinstance(p, bytes) else p
    out, inside, i = [], False, 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            out.append(text[i : i + 2])
            i += 2
            continue
        if c == "[" and not inside:
            inside = True
        elif c == "]" and inside:
            inside = False
        out.append("\\Z" if c == "$" and not inside else c)
        i += 1
    res = "".join(out)
    return res.encode("latin-1") if isinstance(p, bytes) else res


class Splitter:
    """Splits text into words as ``unicode_regex_split`` does."""

    def __init__(self, patterns: list[str]):
        self.steps = [_translate(p) for p in patterns]

    def split(self, text: str) -> list[str]:
        collapsed = wide = None
        spans = [(0, len(text))]
        for on_bytes, rx in self.steps:
            if on_bytes:
                if collapsed is None:
                    collapsed = text.translate(collapse_table()).encode("latin-1")
                subject: str | bytes = collapsed
            else:
                if wide is None:
                    wide = text.translate(_WIDE)
                subject = wide
            out = []
            for start, end in spans:
                piece = subject[start:end]
                at = 0
                for m in rx.finditer(piece):
                    s, e = m.span()
                    if s > at:
                        out.append((start + at, start + s))
                    out.append((start + s, start + e))
                    at = e
                if at < end - start:
                    out.append((start + at, end))
            spans = out
        return [text[s:e] for s, e in spans]

"""Tokenizing as llama.cpp does, on small vocabularies written here with the
gguf package's GGUFWriter (one per covered type), each expectation worked
out by hand from llama.cpp's algorithm; a tokenizer.json against the
``tokenizers`` package itself. With IRPA_LLAMA_MODELS pointing at
llama.cpp's ``models`` directory, its own test vectors run too."""

from __future__ import annotations

import os
import sys

import pytest

from irpa_core import open_archive
from irpa_core.errors import IrpaError
from irpa_core.tokenizer import Tokenizer, TokenizerError, load_tokenizer
from irpa_core.tokenizer.bpe import BYTE_CHARS
from irpa_core.tokenizer.pretok import PATTERNS, Splitter

NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6


def write_vocab(path, model: str, tokens, *, scores=None, types=None, merges=None, pre=None, **kv) -> str:
    """A tensor-less GGUF holding a vocabulary and the given tokenizer keys
    (``bos=1`` -> tokenizer.ggml.bos_token_id...)."""
    import gguf

    w = gguf.GGUFWriter(str(path), "llama")
    w.add_tokenizer_model(model)
    if pre is not None:
        w.add_tokenizer_pre(pre)
    w.add_token_list(tokens)
    if scores is not None:
        w.add_token_scores(scores)
    if types is not None:
        w.add_token_types(types)
    if merges is not None:
        w.add_token_merges(merges)
    setters = {
        "bos": w.add_bos_token_id,
        "eos": w.add_eos_token_id,
        "unk": w.add_unk_token_id,
        "sep": w.add_sep_token_id,
        "pad": w.add_pad_token_id,
        "add_bos": w.add_add_bos_token,
        "add_eos": w.add_add_eos_token,
        "add_space_prefix": w.add_add_space_prefix,
    }
    for key, value in kv.items():
        if key in setters:
            setters[key](value)
        else:
            w.add_key_value(
                key, value, gguf.GGUFValueType.BOOL if isinstance(value, bool) else gguf.GGUFValueType.STRING
            )
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return str(path)


def load(path) -> Tokenizer:
    return load_tokenizer(open_archive(str(path)))


# ---------------------------------------------------------------------------
# SentencePiece (llama)

SPM_NORMAL = [
    ("▁", -1), ("h", -2), ("e", -2), ("l", -2), ("o", -2), ("w", -2), ("r", -2), ("d", -2), ("ll", -3), ("he", -4),
    ("llo", -5), ("hello", -6), ("▁hello", -7), ("▁w", -8), ("or", -9), ("ld", -10), ("▁wor", -11), ("▁world", -12),
]  # fmt: skip


def spm_vocab(tmp_path, name="spm.gguf", **kv):
    tokens = ["<unk>", "<s>", "</s>", "<start_of_turn>", "<|tool|>"]
    types = [UNKNOWN, CONTROL, CONTROL, CONTROL, USER_DEFINED]
    tokens += [f"<0x{b:02X}>" for b in range(256)]
    types += [BYTE] * 256
    scores = [0.0] * len(tokens)
    for piece, score in SPM_NORMAL:
        tokens.append(piece)
        scores.append(float(score))
        types.append(NORMAL)
    return write_vocab(tmp_path / name, "llama", tokens, scores=scores, types=types, bos=1, eos=2, unk=0, **kv)


def B(byte: int) -> int:  # the <0xNN> token of the SPM vocabulary
    return 5 + byte


@pytest.fixture(scope="module")
def spm(tmp_path_factory) -> Tokenizer:
    return load(spm_vocab(tmp_path_factory.mktemp("spm")))


def sid(tok: Tokenizer, piece: str) -> int:
    tid = tok.token_id(piece)
    assert tid is not None, piece
    return tid


def test_spm_merges_by_score_with_a_space_before_the_text(spm):
    assert spm.kind == "spm" and spm.add_bos and not spm.add_eos
    assert spm.bos_id == 1 and spm.eos_id == 2 and spm.unk_id == 0
    # "▁hello▁world": ll, he, llo, hello, ▁hello; ▁w, or, ld, ▁wor, ▁world
    assert spm.encode("hello world") == [1, sid(spm, "▁hello"), sid(spm, "▁world")]
    assert spm.encode("hello world", add_special=False) == [sid(spm, "▁hello"), sid(spm, "▁world")]
    assert spm.encode("") == [1]
    assert spm.encode("", add_special=False) == []


def test_spm_falls_back_to_bytes(spm):
    # é forms no token: its UTF-8 bytes; a newline too
    assert spm.encode("hé\n", add_special=False) == [sid(spm, "▁"), sid(spm, "h"), B(0xC3), B(0xA9), B(0x0A)]


def test_spm_special_tokens_in_text(spm):
    hello = sid(spm, "▁hello")
    # A control token is cut out of the text only with parse_special; a space
    # goes before the text after it, as at the start.
    assert spm.encode("<start_of_turn>hello") == [1, 3, hello]
    plain = spm.encode("<start_of_turn>hello", parse_special=False)
    r, o = sid(spm, "r"), sid(spm, "o")
    assert plain == [1, sid(spm, "▁"), B(ord("<")), B(ord("s")), B(ord("t")), B(ord("a")), r, B(ord("t")),
                     B(ord("_")), o, B(ord("f")), B(ord("_")), B(ord("t")), B(ord("u")), r, B(ord("n")),
                     B(ord(">")), sid(spm, "hello")]  # fmt: skip
    # A user-defined token is cut out always.
    a, b = B(ord("a")), B(ord("b"))
    expected = [sid(spm, "▁"), a, 4, sid(spm, "▁"), b]
    assert spm.encode("a<|tool|>b", add_special=False, parse_special=False) == expected


def test_spm_metadata_flags(tmp_path):
    tok = load(spm_vocab(tmp_path, add_bos=False, add_eos=True, add_space_prefix=False))
    assert not tok.add_bos and tok.add_eos
    assert tok.encode("hello") == [sid(tok, "hello"), 2]


def test_spm_lookups_and_decode(spm):
    hello = sid(spm, "▁hello")
    assert spm.piece(hello) == "▁hello"
    assert spm.token_type(hello) == NORMAL and spm.token_type(3) == CONTROL and spm.token_type(B(0)) == BYTE
    assert spm.score(hello) == -7.0
    assert spm.token_id("no such piece") is None
    assert spm.decode(spm.encode("hello hé\n", add_special=False)) == "hello hé\n"
    assert spm.decode([1, 3, hello]) == "<s><start_of_turn> hello"
    with pytest.raises(TokenizerError, match="outside the vocabulary"):
        spm.piece(10**6)


def test_spm_merge_of_long_text_matches_word_by_word(spm):
    """A long text is merged in chunks; the ids are those of each word."""
    words = ["hello", "world", "hé", "held"] * 50
    one = spm.encode(" ".join(words), add_special=False)
    each = []
    for w in words:
        each += spm.encode(w, add_special=False)
    assert one == each


# ---------------------------------------------------------------------------
# Byte-level BPE (gpt2)

BPE_MERGES = ["h e", "l l", "l o", "he ll", "hell o", "Ġ w", "o r", "Ġw or", "l d", "Ġwor ld"]


@pytest.fixture(scope="module")
def bpe(tmp_path_factory) -> Tokenizer:
    tokens = list(BYTE_CHARS)
    for m in BPE_MERGES:
        tokens.append(m.replace(" ", ""))
    tokens += ["<|endoftext|>", "<|user|>"]
    types = [NORMAL] * (len(tokens) - 2) + [CONTROL, USER_DEFINED]
    path = tmp_path_factory.mktemp("bpe") / "bpe.gguf"
    n = len(tokens)
    return load(write_vocab(path, "gpt2", tokens, types=types, merges=BPE_MERGES, pre="gpt-2", bos=n - 2, eos=n - 2))


def test_bpe_merges_by_rank_within_words(bpe):
    assert bpe.kind == "bpe" and bpe.pre == "gpt-2" and not bpe.add_bos
    hello, world = bpe.token_id("hello"), bpe.token_id("Ġworld")
    assert bpe.encode("hello world") == [hello, world]
    # é: its two bytes, each a token (ids are bytes' positions in BYTE_CHARS)
    assert bpe.encode("é") == [0xC3, 0xA9]
    assert bpe.decode(bpe.encode("hello world é\n")) == "hello world é\n"
    assert bpe.merge_rank(hello) == 4 and bpe.merge_rank(ord("a")) is None


def test_bpe_special_tokens(bpe):
    eot = bpe.token_id("<|endoftext|>")
    h, i = BYTE_CHARS.index("h"), BYTE_CHARS.index("i")
    assert bpe.encode("hi<|endoftext|>") == [h, i, eot]
    assert eot not in bpe.encode("hi<|endoftext|>", parse_special=False)
    assert bpe.encode("hi<|user|>", parse_special=False) == [h, i, bpe.token_id("<|user|>")]


def test_bpe_pre_tokenizers_split_as_llama_cpp():
    gpt2 = Splitter(PATTERNS["gpt2"])
    assert gpt2.split("Hello world's  123 !!\n\n x") == ["Hello", " world", "'s", " ", " 123", " !!", "\n\n", " x"]
    llama3 = Splitter(PATTERNS["llama3"])
    assert llama3.split("Hello world's 1234567!\n\nyes") == [
        "Hello", " world", "'s", " ", "123", "456", "7", "!\n\n", "yes",
    ]  # fmt: skip
    assert llama3.split("héllo wörld 你好世界 🦙!") == ["héllo", " wörld", " 你好世界", " 🦙!"]
    # \s in llama.cpp's patterns is ASCII whitespace and the Unicode spaces it lists
    assert llama3.split("a\u3000\u3000b") == ["a", "\u3000", "\u3000b"]
    qwen2 = Splitter(PATTERNS["qwen2"])
    assert qwen2.split("x 1234") == ["x", " ", "1", "2", "3", "4"]


def test_every_pre_tokenizer_compiles_and_splits():
    from irpa_core.tokenizer.pretok import PRE

    text = "Hello, world's 12345 !? \u4f60\u597d\n\n  \tx$"
    for name, spec in PRE.items():
        words = Splitter(PATTERNS[spec.patterns]).split(text)
        assert "".join(words) == text, name
    # ECMAScript's $ is the end of the text only
    assert Splitter(["\\s+$"]).split("a \n") == ["a", " \n"]


def test_unknown_and_unsupported_pre_tokenizers_are_refused_by_name(tmp_path):
    tokens = list(BYTE_CHARS)
    for pre, says in (("kimi-k2", "unsupported BPE pre-tokenizer 'kimi-k2'"), ("frob", "unknown BPE pre-tokenizer")):
        path = write_vocab(tmp_path / f"{pre}.gguf", "gpt2", tokens, merges=[], pre=pre)
        with pytest.raises(TokenizerError, match=says):
            load(path)


# ---------------------------------------------------------------------------
# WordPiece (bert)


@pytest.fixture(scope="module")
def wpm(tmp_path_factory) -> Tokenizer:
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "▁hello", "▁world", "▁,", "▁!", "▁un", "believ", "able", "▁cafe"]
    types = [CONTROL, UNKNOWN, CONTROL, CONTROL] + [NORMAL] * 8
    path = tmp_path_factory.mktemp("wpm") / "wpm.gguf"
    return load(write_vocab(path, "bert", tokens, types=types, bos=2, sep=3, unk=1, pad=0))


def test_wpm_lowercases_strips_accents_and_takes_longest_pieces(wpm):
    assert wpm.kind == "wpm"
    assert wpm.encode("Hello, World! unbelievable Café") == [2, 4, 6, 5, 7, 8, 9, 10, 11, 3]
    assert wpm.encode("hello xyz", add_special=False) == [4, 1]  # a word no piece covers: [UNK]
    assert wpm.encode("[SEP]hello", add_special=False) == [3, 4]
    assert wpm.decode([4, 5]) == " hello world"  # as llama.cpp: WordPiece adds no space prefix to strip


# ---------------------------------------------------------------------------
# Unigram (t5)


def ugm_vocab(tmp_path, name="ugm.gguf", **kv):
    tokens = ["<pad>", "</s>", "<unk>", "▁", "▁hello", "▁he", "llo", "h", "e", "<extra_id_0>"]
    scores = [0.0, 0.0, 0.0, -5.0, -1.0, -2.0, -2.5, -3.0, -3.0, 0.0]
    types = [CONTROL, CONTROL, UNKNOWN, NORMAL, NORMAL, NORMAL, NORMAL, NORMAL, NORMAL, USER_DEFINED]
    return write_vocab(tmp_path / name, "t5", tokens, scores=scores, types=types, add_space_prefix=True, **kv)


def test_ugm_finds_the_best_scoring_tokenization(tmp_path):
    tok = load(ugm_vocab(tmp_path))
    assert tok.kind == "ugm" and not tok.add_bos and tok.add_eos and tok.eos_id == 1 and tok.unk_id == 2
    # ▁hello (-1) beats ▁he + llo (-4.5); x, y, z: one unknown token for the run
    assert tok.encode("hello xyz") == [4, 3, 2, 1]
    assert tok.encode("hello<extra_id_0>", add_special=False) == [4, 9]
    tok = load(ugm_vocab(tmp_path, "merge.gguf", **{"tokenizer.ggml.remove_extra_whitespaces": True}))
    assert tok.encode("  hello   hello ", add_special=False) == [4, 4]


def tiny_charsmap() -> list[int]:
    """A precompiled charsmap (SentencePiece's double array, XOR-compressed)
    mapping fullwidth Ｈ (EF BC A8) to "h", laid out by hand: root base 1,
    then one node per byte (base << 10 | leaf bit 8 | the byte), and a
    value node (bit 31) holding the replacement's offset."""
    import struct

    xcda = [0] * 256
    xcda[0] = 1 << 10
    xcda[1 ^ 0xEF] = 3 << 10 | 0xEF  # index 238, base 3 -> 237
    xcda[237 ^ 0xBC] = 5 << 10 | 0xBC  # index 81, base 5 -> 84
    xcda[84 ^ 0xA8] = 7 << 10 | 1 << 8 | 0xA8  # index 252, a leaf, base 7 -> 251
    xcda[251] = 1 << 31 | 0  # the replacement at offset 0
    blob = struct.pack("<I", 4 * len(xcda)) + struct.pack(f"<{len(xcda)}I", *xcda) + b"h\0"
    return list(blob)


def test_ugm_normalizes_with_the_precompiled_charsmap(tmp_path):
    import gguf

    kv = {"tokenizer.ggml.precompiled_charsmap": tiny_charsmap()}
    path = tmp_path / "cm.gguf"
    w = gguf.GGUFWriter(str(path), "t5")
    w.add_tokenizer_model("t5")
    w.add_token_list(["<pad>", "</s>", "<unk>", "▁", "▁hello"])
    w.add_token_scores([0.0, 0.0, 0.0, -5.0, -1.0])
    w.add_token_types([CONTROL, CONTROL, UNKNOWN, NORMAL, NORMAL])
    w.add_add_space_prefix(True)
    w.add_key_value("tokenizer.ggml.precompiled_charsmap", kv["tokenizer.ggml.precompiled_charsmap"],
                    gguf.GGUFValueType.ARRAY, sub_type=gguf.GGUFValueType.UINT8)  # fmt: skip
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    tok = load(path)
    assert tok.encode("\uff28ello", add_special=False) == [4]  # Ｈ -> h
    assert tok.encode("\uff21", add_special=False) == [3, 2]  # Ａ is not in the map: unknown


def test_character_classes_are_llama_cpp_unicode_15_1():
    from irpa_core.tokenizer.unicode import char_class

    assert char_class("\U0001fae8") == "S"  # 15.0 emoji: a symbol
    assert char_class("\U0002ebf0") == "L"  # 15.1 CJK extension I
    assert char_class("\u0897") == "U"  # assigned in 16.0: not yet to llama.cpp
    assert char_class("a") == "L" and char_class("\u0301") == "M" and char_class("\u200b") == "C"


# ---------------------------------------------------------------------------
# Errors


def test_a_file_without_tokenizer_says_so(tmp_path):
    import numpy as np

    from tests.fixtures import make_gguf

    path = make_gguf(tmp_path / "w.gguf", {"w": np.zeros(4, np.float32)})
    with pytest.raises(TokenizerError, match=r"w\.gguf: no tokenizer"):
        load(path)


def test_unsupported_types_are_refused_by_name(tmp_path):
    path = write_vocab(tmp_path / "rwkv.gguf", "rwkv", ["a", "b"])
    with pytest.raises(TokenizerError, match="unsupported tokenizer type 'rwkv'"):
        load(path)
    path = write_vocab(tmp_path / "odd.gguf", "xyz", ["a", "b"])
    with pytest.raises(TokenizerError, match="unknown tokenizer type 'xyz'"):
        load(path)
    assert issubclass(TokenizerError, IrpaError)


# ---------------------------------------------------------------------------
# tokenizer.json beside safetensors: the tokenizers package is the oracle


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory):
    import numpy as np
    from safetensors.numpy import save_file
    from tokenizers import Tokenizer as HF
    from tokenizers import models, pre_tokenizers, processors

    d = tmp_path_factory.mktemp("hf")
    vocab = {"[UNK]": 0, "<s>": 1, "</s>": 2, "h": 3, "e": 4, "l": 5, "o": 6, "he": 7, "ll": 8, "hell": 9}
    vocab["hello"] = 10
    hf = HF(models.BPE(vocab, [("h", "e"), ("l", "l"), ("he", "ll"), ("hell", "o")], unk_token="[UNK]"))
    hf.pre_tokenizer = pre_tokenizers.Whitespace()
    hf.add_special_tokens(["<s>", "</s>"])
    hf.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    hf.save(str(d / "tokenizer.json"))
    save_file({"w": np.zeros(2, np.float32)}, str(d / "model.safetensors"))
    return d


def test_tokenizer_json_beside_safetensors(hf_dir):
    from tokenizers import Tokenizer as HF

    oracle = HF.from_file(str(hf_dir / "tokenizer.json"))
    tok = load(hf_dir / "model.safetensors")
    assert tok.kind == "hf" and tok.bos_id == 1 and tok.add_bos and not tok.add_eos
    for text in ("hello", "hello hell", "he</s>llo", "xyz hello"):
        assert tok.encode(text) == oracle.encode(text).ids
        assert tok.encode(text, add_special=False) == oracle.encode(text, add_special_tokens=False).ids
    assert tok.encode("he</s>", add_special=False) == [7, 2]
    assert 2 not in tok.encode("he</s>", add_special=False, parse_special=False)
    assert tok.piece(10) == "hello" and tok.token_id("hello") == 10 and tok.token_type(1) == CONTROL


def test_safetensors_without_tokenizer_json(tmp_path):
    import numpy as np
    from safetensors.numpy import save_file

    save_file({"w": np.zeros(2, np.float32)}, str(tmp_path / "m.safetensors"))
    with pytest.raises(TokenizerError, match=r"no tokenizer\.json beside it"):
        load(tmp_path / "m.safetensors")


# ---------------------------------------------------------------------------
# llama.cpp's own vectors, when its models directory is at hand


@pytest.mark.skipif(not os.environ.get("IRPA_LLAMA_MODELS"), reason="IRPA_LLAMA_MODELS is not set")
def test_llama_cpp_vectors():
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "bench"))
    from tokenizer_vectors import run  # type: ignore[import-not-found]

    assert run(os.environ["IRPA_LLAMA_MODELS"], [], verbose=True) == 0

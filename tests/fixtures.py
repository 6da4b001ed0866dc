"""Fixture builders shared by the tests: real files written by the real
writers (the ``safetensors`` and ``gguf`` packages, IREE's tools), small
enough to build in ``tmp_path`` in milliseconds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tests import oracle

# numpy dtypes GGUF stores natively (ggml F32, F16, BF16 via raw, I8..I64, F64)
GGUF_PLAIN = ["float32", "float16", "int8", "int16", "int32", "int64", "float64"]
# numpy's own dtypes that safetensors stores (ml_dtypes' bf16/fp8 are not numpy's)
NUMPY_PLAIN = ["bool", "uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "int64"]
NUMPY_PLAIN += ["float16", "float32", "float64"]


def make_safetensors(path, tensors: dict[str, np.ndarray], metadata: dict | None = None) -> Path:
    from safetensors.numpy import save_file

    save_file(tensors, str(path), metadata=metadata)
    return Path(path)


def quantized_bytes(qtype_name: str, rows: int, cols: int, seed: int = 0) -> np.ndarray:
    """Bytes of a (rows, cols) tensor in a ggml block type, shaped
    (rows, bytes per row). Types ``gguf.quants.quantize`` supports are
    quantized from random floats; others get random block bytes (still a
    valid layout to read and copy)."""
    import gguf

    qt = gguf.GGMLQuantizationType[qtype_name]
    block, size = gguf.GGML_QUANT_SIZES[qt]
    rng = np.random.default_rng(seed)
    try:
        return gguf.quants.quantize(rng.standard_normal((rows, cols)).astype(np.float32), qt)
    except (NotImplementedError, gguf.quants.QuantError):
        return rng.integers(0, 256, (rows, cols // block * size), dtype=np.uint8)


def make_gguf(path, tensors: dict, kv: dict | None = None, arch: str = "llama", **writer_kw) -> Path:
    """``tensors``: name -> np.ndarray (plain types) or (qtype_name, uint8
    byte array from ``quantized_bytes``). ``kv``: key -> value, where a
    value is passed to ``GGUFWriter.add_key_value`` as (value, GGUFValueType)
    or a plain str/int/float/list handled by type. ``writer_kw`` go to
    ``GGUFWriter`` (``split_max_tensors=1`` writes a split model)."""
    import gguf

    w = gguf.GGUFWriter(str(path), arch, **writer_kw)
    for key, value in (kv or {}).items():
        if key == "general.alignment":
            w.add_custom_alignment(value)  # also moves the data, not just the key
        elif isinstance(value, tuple):
            w.add_key_value(key, value[0], value[1], sub_type=value[2] if len(value) > 2 else None)
        elif isinstance(value, str):
            w.add_string(key, value)
        elif isinstance(value, bool):
            w.add_bool(key, value)
        elif isinstance(value, int):
            w.add_uint32(key, value)
        elif isinstance(value, float):
            w.add_float32(key, value)
        else:
            w.add_array(key, value)
    for name, t in tensors.items():
        if isinstance(t, tuple):
            qname, data = t
            w.add_tensor(name, data, raw_dtype=gguf.GGMLQuantizationType[qname])
        else:
            w.add_tensor(name, t)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return Path(path)


REMOTE_VOCAB = 100_000  # a header of about 2.8 MB: more than two read-ahead blocks


def make_remote_model(path) -> Path:
    """A llama-shaped GGUF for the remote tests: a big tokenizer header,
    then about 7 MB of Q8_0/Q4_K/F32 tensors in 3 blocks."""
    kv = {
        "tokenizer.ggml.tokens": [f"t{i}{'x' * (i % 13)}" for i in range(REMOTE_VOCAB)],
        "tokenizer.ggml.scores": [float(i) for i in range(REMOTE_VOCAB)],
        "tokenizer.ggml.token_type": [1] * REMOTE_VOCAB,
    }
    tensors: dict = {"token_embd.weight": ("Q8_0", quantized_bytes("Q8_0", 8192, 512, seed=1))}
    for b in range(3):
        tensors[f"blk.{b}.attn_norm.weight"] = np.full(512, b + 1, np.float32)
        tensors[f"blk.{b}.attn_q.weight"] = ("Q8_0", quantized_bytes("Q8_0", 512, 512, seed=10 + b))
        tensors[f"blk.{b}.ffn_up.weight"] = ("Q4_K", quantized_bytes("Q4_K", 1024, 1024, seed=20 + b))
    tensors["output_norm.weight"] = np.ones(512, np.float32)
    return make_gguf(path, tensors, kv)


def make_irpa_with_iree(path, *create_flags: str) -> Path:
    """An archive written by the reference ``iree-create-parameters``."""
    oracle.run_tool("iree-create-parameters", f"--output={path}", *create_flags)
    return Path(path)


# Byte offsets of the f16 scale fields in one block of the ggml K-quant
# types (ggml-common.h block layouts): random bytes elsewhere decode to
# finite values once these are small and positive.
_KQUANT_SCALES = {"Q2_K": (80, 82), "Q3_K": (108,), "Q4_K": (0, 2), "Q5_K": (0, 2), "Q6_K": (208,)}


def model_quant_bytes(qtype_name: str, rows: int, cols: int, seed: int = 0, scale: float = 0.02) -> np.ndarray:
    """Like ``quantized_bytes``, but K-quant blocks (which ``gguf.quants``
    cannot quantize) get small finite scales, so every value is finite and
    about ``scale`` in size: a stand-in for real weights."""
    import gguf

    qt = gguf.GGMLQuantizationType[qtype_name]
    block, size = gguf.GGML_QUANT_SIZES[qt]
    rng = np.random.default_rng(seed)
    if qtype_name not in _KQUANT_SCALES:
        # In slices of rows: a 262,144-row embedding never exists as floats at once.
        step = max(1, (1 << 22) // max(1, cols))
        parts = [
            gguf.quants.quantize((rng.standard_normal((min(step, rows - r), cols)) * scale).astype(np.float32), qt)
            for r in range(0, rows, step)
        ]
        return np.concatenate(parts) if len(parts) != 1 else parts[0]
    data = rng.integers(0, 256, (rows, cols // block, size), dtype=np.uint8)
    d = rng.uniform(0.5, 1.0, (len(_KQUANT_SCALES[qtype_name]), rows, cols // block))
    # Values are linear in the scales: calibrate them so the std is `scale`.
    for attempt in range(2):
        for k, off in enumerate(_KQUANT_SCALES[qtype_name]):
            data[:, :, off : off + 2] = d[k].astype(np.float16).view(np.uint8).reshape(rows, cols // block, 2)
        if attempt == 0:
            sample = gguf.quants.dequantize(data[: min(rows, 64)].reshape(min(rows, 64), -1), qt)
            d *= scale / float(np.std(sample))
    return data.reshape(rows, -1)


# Tokens a chat tokenizer really holds, and text that must stay data.
HOSTILE_TOKENS = ["[/INST]", "[INST]", "[b]x[/b]", "[@click=app.quit]x[/]", "[link=http://x]x[/link]", "[multimodal]"]
HOSTILE_TOKENS += ["\x1b[2J", "\x1b]8;;http://x\x07y\x1b]8;;\x07", "nul\x00byte", "\u202eevil", "\n", "<0x0A>"]


def make_model_gguf(
    path,
    *,
    arch: str = "gemma3",
    vocab: int = 1024,
    blocks: int = 4,
    width: int = 64,
    heads: int = 4,
    head_dim: int = 64,
    ff: int = 256,
    context: int = 32768,
    seed: int = 0,
    extra_kv: dict | None = None,
) -> Path:
    """A gemma-like GGUF: a vocabulary with chat-template tokens, ``blocks``
    blocks of attention and feed-forward tensors in a Q8_0/Q5_0/Q4_K/Q6_K
    mix (ffn_down alternates Q6_K and Q4_K), f32 norms, and the usual keys.
    ``vocab=262144, blocks=18, width=640, heads=4, head_dim=256, ff=2048``
    is the size of gemma-3-270m (about 250 MB). ``extra_kv``: more keys
    (as ``make_gguf`` takes them)."""
    import gguf

    tokens = ["<pad>", "<eos>", "<bos>", "<unk>", *HOSTILE_TOKENS]
    tokens += [f"tok{i}" for i in range(vocab - len(tokens))]
    types = [gguf.TokenType.CONTROL] * 4 + [gguf.TokenType.NORMAL] * (vocab - 4)
    kv = {
        "general.name": "Gemma-like test model",
        "general.file_type": (15, gguf.GGUFValueType.UINT32),
        f"{arch}.block_count": blocks,
        f"{arch}.embedding_length": width,
        f"{arch}.context_length": context,
        f"{arch}.feed_forward_length": ff,
        f"{arch}.attention.head_count": heads,
        f"{arch}.attention.head_count_kv": 1,
        f"{arch}.attention.key_length": head_dim,
        f"{arch}.attention.layer_norm_rms_epsilon": 1e-6,
        f"{arch}.pooling_type": (1, gguf.GGUFValueType.UINT32),
        "tokenizer.ggml.model": "llama",
        "tokenizer.ggml.tokens": tokens,
        "tokenizer.ggml.token_type": ([int(t) for t in types], gguf.GGUFValueType.ARRAY, gguf.GGUFValueType.INT32),
        "tokenizer.ggml.bos_token_id": 2,
        "tokenizer.ggml.eos_token_id": 1,
        **(extra_kv or {}),
    }
    q = head_dim * heads
    kvw = head_dim
    tensors: dict = {"token_embd.weight": ("Q8_0", model_quant_bytes("Q8_0", vocab, width, seed))}
    for b in range(blocks):
        s = seed + 100 * (b + 1)
        tensors.update(
            {
                f"blk.{b}.attn_norm.weight": np.ones(width, np.float32),
                f"blk.{b}.attn_q.weight": ("Q5_0", model_quant_bytes("Q5_0", q, width, s + 1)),
                f"blk.{b}.attn_k.weight": ("Q5_0", model_quant_bytes("Q5_0", kvw, width, s + 2)),
                f"blk.{b}.attn_v.weight": ("Q8_0", model_quant_bytes("Q8_0", kvw, width, s + 3)),
                f"blk.{b}.attn_output.weight": ("Q4_K", model_quant_bytes("Q4_K", width, q, s + 4)),
                f"blk.{b}.ffn_norm.weight": np.ones(width, np.float32),
                f"blk.{b}.ffn_gate.weight": ("Q5_0", model_quant_bytes("Q5_0", ff, width, s + 5)),
                f"blk.{b}.ffn_up.weight": ("Q5_0", model_quant_bytes("Q5_0", ff, width, s + 6)),
                f"blk.{b}.ffn_down.weight": (
                    "Q6_K" if b % 2 else "Q4_K",
                    model_quant_bytes("Q6_K" if b % 2 else "Q4_K", width, ff, s + 7),
                ),
            }
        )
    tensors["output_norm.weight"] = np.ones(width, np.float32)
    return make_gguf(path, tensors, kv, arch=arch)


# Text that must stay data in every screen and table: markup, terminal
# control, NUL, a bidi override, and a 10,000-character name.
HOSTILE = ["[/INST]", "[b]x[/b]", "[@click=app.quit]x[/]", "[link=http://x]x[/link]", "[multimodal]"]
HOSTILE += ["\x1b[2J", "\x1b]8;;http://x\x07y\x1b]8;;\x07", "nul\x00byte", "\u202eevil"]
LONG_NAME = "L" * 10_000
BIG_VALUE = "v" * 1_000_000
BAD_UTF8 = b"bad\xff\xfeutf8"  # where the format permits bytes (IRPA names, GGUF string values)


def make_hostile(directory) -> dict[str, Path]:
    """The hostile corpus in all three formats: tensor names, metadata keys,
    values and tokens built from ``HOSTILE``, the 10,000-character name, a
    1 MB string value, and bytes that are not UTF-8 where the format
    permits them. Each file has 2-D tensors (for heatmaps) and a NaN."""
    import json

    from irpa_core import open_archive
    from irpa_core.formats import dataset_meta
    from irpa_core.output import apply
    from irpa_core.plan import Plan
    from irpa_core.write import write_archive

    d = Path(directory)
    rng = np.random.default_rng(13)
    tensors = {f"blk.{k}.{h}.weight": rng.standard_normal((4, 8)).astype(np.float32) for k, h in enumerate(HOSTILE)}
    tensors[LONG_NAME] = rng.standard_normal((3, 5)).astype(np.float32)
    tensors["nan"] = np.array([[1.0, np.nan], [np.inf, 0.0]], np.float32)
    meta = {h: h for h in HOSTILE} | {"big": BIG_VALUE, "architecture": "[b]arch[/b]"}
    out = {"safetensors": make_safetensors(d / "hostile.safetensors", tensors, metadata=meta)}

    kv: dict = {f"hostile.{k}": h for k, h in enumerate(HOSTILE)}
    kv["general.name"] = "[b]name[/b]\x1b[2J"
    kv["big"] = BIG_VALUE
    kv["bad"] = "PLACEHOLDER"[: len(BAD_UTF8)].ljust(len(BAD_UTF8), "_")
    kv["tokenizer.ggml.tokens"] = ["<pad>", *HOSTILE, "PLACEHOLDER"[: len(BAD_UTF8)].ljust(len(BAD_UTF8), "_")]
    gg = make_gguf(d / "hostile.gguf", tensors, kv)
    blob = gg.read_bytes()
    marker = "PLACEHOLDER"[: len(BAD_UTF8)].ljust(len(BAD_UTF8), "_").encode()
    gg.write_bytes(blob.replace(marker, BAD_UTF8))
    out["gguf"] = gg

    # IRPA: the safetensors tensors plus a __SHARK_DATASET__ entry holding
    # hostile key/values, and one name whose bytes are not UTF-8.
    ds_kv = {"general.name": "[b]ds[/b]\x1b[2J", **{k: v for k, v in kv.items() if isinstance(v, str)}}
    ds_kv["tokenizer.ggml.tokens"] = ("string", ["<pad>", *HOSTILE])
    ds_types = {k: "array" if isinstance(v, tuple) else "string" for k, v in ds_kv.items()}
    ds_blob = dataset_meta.encode(ds_kv, ds_types)
    src = make_safetensors(
        d / "irpa-src.safetensors",
        {**tensors, "PLACEHOLDER_": np.zeros(4, np.float32), dataset_meta.NAME: np.frombuffer(ds_blob, np.uint8)},
        metadata=None,
    )
    targets = apply(Plan(), open_archive(src))
    irpa = d / "hostile.irpa"
    write_archive(targets, str(irpa), fsync=False)
    blob = irpa.read_bytes()
    assert blob.count(b"PLACEHOLDER_") == 1
    irpa.write_bytes(blob.replace(b"PLACEHOLDER_", BAD_UTF8.ljust(12, b"_")))
    out["irpa"] = irpa
    (d / "irpa-src.safetensors").unlink()
    json.dumps(meta)  # the corpus itself is valid JSON text
    return out


# The tiny models of irpa check's tests (tests/test_check.py, the TUI's).
CHECK_DIMS = EMBD, HEADS, KV_HEADS, HEAD, FF, VOCAB, BLOCKS, CTX = 8, 2, 1, 4, 16, 10, 2, 32


def _z(*shape: int) -> np.ndarray:
    return np.zeros(shape, dtype=np.float32)


def check_model(arch: str) -> tuple[dict, dict]:
    """A consistent llama, gemma3 or bert model's tensors and keys for
    ``make_gguf`` (every tensor llama.cpp loads for it, tiny)."""
    t: dict[str, np.ndarray] = {"token_embd.weight": _z(VOCAB, EMBD)}
    kv: dict = {
        f"{arch}.block_count": BLOCKS,
        f"{arch}.embedding_length": EMBD,
        f"{arch}.feed_forward_length": FF,
        f"{arch}.attention.head_count": HEADS,
        f"{arch}.context_length": CTX,
        "tokenizer.ggml.tokens": [f"t{i}" for i in range(VOCAB)],
        "tokenizer.ggml.scores": [0.0] * VOCAB,
        "tokenizer.ggml.bos_token_id": 1,
        "tokenizer.ggml.eos_token_id": 2,
    }
    if arch == "bert":
        t |= {"token_types.weight": _z(2, EMBD), "position_embd.weight": _z(CTX, EMBD)}
        t |= {"token_embd_norm.weight": _z(EMBD), "token_embd_norm.bias": _z(EMBD)}
        for b in range(BLOCKS):
            for role, shape in (("attn_q", (EMBD, EMBD)), ("attn_k", (EMBD, EMBD)), ("attn_v", (EMBD, EMBD))):
                t |= {f"blk.{b}.{role}.weight": _z(*shape), f"blk.{b}.{role}.bias": _z(shape[0])}
            t |= {f"blk.{b}.attn_output.weight": _z(EMBD, EMBD), f"blk.{b}.attn_output.bias": _z(EMBD)}
            t |= {f"blk.{b}.attn_output_norm.weight": _z(EMBD), f"blk.{b}.attn_output_norm.bias": _z(EMBD)}
            t |= {f"blk.{b}.ffn_up.weight": _z(FF, EMBD), f"blk.{b}.ffn_up.bias": _z(FF)}
            t |= {f"blk.{b}.ffn_down.weight": _z(EMBD, FF), f"blk.{b}.ffn_down.bias": _z(EMBD)}
            t |= {f"blk.{b}.layer_output_norm.weight": _z(EMBD), f"blk.{b}.layer_output_norm.bias": _z(EMBD)}
        return t, kv
    kv |= {f"{arch}.attention.head_count_kv": KV_HEADS, f"{arch}.attention.key_length": HEAD}
    t["output_norm.weight"] = _z(EMBD)
    if arch == "llama":
        t["output.weight"] = _z(VOCAB, EMBD)  # gemma3's is tied to token_embd
    for b in range(BLOCKS):
        t |= {
            f"blk.{b}.attn_norm.weight": _z(EMBD),
            f"blk.{b}.attn_q.weight": _z(HEADS * HEAD, EMBD),
            f"blk.{b}.attn_k.weight": _z(KV_HEADS * HEAD, EMBD),
            f"blk.{b}.attn_v.weight": _z(KV_HEADS * HEAD, EMBD),
            f"blk.{b}.attn_output.weight": _z(EMBD, HEADS * HEAD),
            f"blk.{b}.ffn_norm.weight": _z(EMBD),
            f"blk.{b}.ffn_gate.weight": _z(FF, EMBD),
            f"blk.{b}.ffn_up.weight": _z(FF, EMBD),
            f"blk.{b}.ffn_down.weight": _z(EMBD, FF),
        }
        if arch == "gemma3":
            t |= {
                f"blk.{b}.attn_q_norm.weight": _z(HEAD),
                f"blk.{b}.attn_k_norm.weight": _z(HEAD),
                f"blk.{b}.post_attention_norm.weight": _z(EMBD),
                f"blk.{b}.post_ffw_norm.weight": _z(EMBD),
            }
    return t, kv


# A Gemma-style chat template, and the same with its last tag left open
# (a template to fix in the TUI: it does not parse).
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "<start_of_turn>{{ 'model' if message['role'] == 'assistant' else message['role'] }}\n"
    "{{ message['content'] | trim }}<end_of_turn>\n"
    "{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)
BROKEN_CHAT_TEMPLATE = CHAT_TEMPLATE.removesuffix(" %}")
CHAT_WORDS = ("Hello", "Hi", "How", "can", "I", "help", "you", "today", "What", "is", "the", "capital", "of", "France")


def make_chat_gguf(path, template: str | None = CHAT_TEMPLATE, words: tuple[str, ...] = CHAT_WORDS) -> Path:
    """A small GGUF with a Gemma-style SentencePiece vocabulary: control
    tokens (``<bos>``, ``<start_of_turn>``...), the 256 byte tokens, and
    ``words`` with every prefix (``▁`` before, and at the start of a text),
    so that each word is one token; a chat template (None: none) and one
    tensor."""
    import gguf

    control = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"]
    tokens = control + [f"<0x{b:02X}>" for b in range(256)]
    types = [gguf.TokenType.CONTROL] * len(control) + [gguf.TokenType.BYTE] * 256
    types[3] = gguf.TokenType.UNKNOWN
    pieces: dict[str, None] = {}
    for word in ("▁", "!", "?", "user", "model", *words):
        for form in (word, "▁" + word.lstrip("▁")):
            for k in range(1, len(form) + 1):
                pieces[form[:k]] = None
    normal = list(pieces)
    tokens += normal
    types += [gguf.TokenType.NORMAL] * len(normal)
    scores = [0.0] * (len(tokens) - len(normal)) + [float(len(p)) for p in normal]
    kv = {
        "general.name": "chat test model",
        "tokenizer.ggml.model": "llama",
        "tokenizer.ggml.tokens": tokens,
        "tokenizer.ggml.scores": scores,
        "tokenizer.ggml.token_type": ([int(t) for t in types], gguf.GGUFValueType.ARRAY, gguf.GGUFValueType.INT32),
        "tokenizer.ggml.bos_token_id": 2,
        "tokenizer.ggml.eos_token_id": 1,
        "tokenizer.ggml.unknown_token_id": 3,
        "tokenizer.ggml.add_bos_token": True,
        "tokenizer.ggml.add_space_prefix": False,
    }
    if template is not None:
        kv["tokenizer.chat_template"] = template
    tensors = {"token_embd.weight": np.arange(len(tokens) * 8, dtype=np.float32).reshape(len(tokens), 8)}
    return make_gguf(path, tensors, kv)


# -- a Hugging Face checkpoint and its llama.cpp-style conversion (irpa diff --map, the compare screen)
# (HF_*: this module has CHECK_DIMS' HEADS, VOCAB... of its own)

HF_HIDDEN, HF_INTER, HF_HEADS, HF_KV_HEADS, HF_BLOCKS, HF_VOCAB = 64, 128, 4, 2, 2, 32


def permute_rope(w, n_head):
    # As llama.cpp's LlamaModel.permute, written out independently.
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def hf_model(d, model_type="llama"):
    """A small llama-shaped Hugging Face checkpoint in ``d`` (model.safetensors
    and config.json): (its path, {name: array})."""
    rng = np.random.default_rng(7)

    def r(*shape, scale=0.05):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    t = {"model.embed_tokens.weight": r(HF_VOCAB, HF_HIDDEN), "model.norm.weight": 1 + r(HF_HIDDEN)}
    hd = HF_HIDDEN // HF_HEADS
    for i in range(HF_BLOCKS):
        p = f"model.layers.{i}."
        t |= {
            p + "self_attn.q_proj.weight": r(HF_HIDDEN, HF_HIDDEN),
            p + "self_attn.k_proj.weight": r(HF_KV_HEADS * hd, HF_HIDDEN),
            p + "self_attn.v_proj.weight": r(HF_KV_HEADS * hd, HF_HIDDEN),
            p + "self_attn.o_proj.weight": r(HF_HIDDEN, HF_HIDDEN),
            p + "mlp.gate_proj.weight": r(HF_INTER, HF_HIDDEN),
            p + "mlp.up_proj.weight": r(HF_INTER, HF_HIDDEN),
            p + "mlp.down_proj.weight": r(HF_HIDDEN, HF_INTER),
            p + "input_layernorm.weight": 1 + r(HF_HIDDEN),
            p + "post_attention_layernorm.weight": 1 + r(HF_HIDDEN),
        }
    t["lm_head.weight"] = r(HF_VOCAB, HF_HIDDEN)
    d.mkdir(exist_ok=True)
    cfg = {
        "model_type": model_type,
        "num_hidden_layers": HF_BLOCKS,
        "num_attention_heads": HF_HEADS,
        "num_key_value_heads": HF_KV_HEADS,
        "hidden_size": HF_HIDDEN,
    }
    (d / "config.json").write_text(json.dumps(cfg))
    return make_safetensors(d / "model.safetensors", t), t


def convert_hf(hf, qtype, arch="llama", drop=(), plant=None):
    """{gguf name: tensor spec for make_gguf} as the converter writes it:
    names through gguf's table, Q/K permuted (llama), norms +1 (gemma),
    2-D weights quantized to ``qtype``, norms in f32."""
    import gguf

    names = gguf.get_tensor_name_map(next(a for a, n in gguf.MODEL_ARCH_NAMES.items() if n == arch), HF_BLOCKS)
    out = {}
    for n, w in hf.items():
        if n in drop:
            continue
        g = names.get_name(n, try_suffixes=(".weight", ".bias"))
        if g is None:
            continue  # gemma ties the output to the embeddings: no lm_head
        if arch == "llama" and n.endswith("q_proj.weight"):
            w = permute_rope(w, HF_HEADS)
        if arch == "llama" and n.endswith("k_proj.weight"):
            w = permute_rope(w, HF_KV_HEADS)
        if arch == "gemma" and n.endswith("norm.weight"):
            w = w + 1
        if plant and g in plant:
            w = plant[g](w)
        if w.ndim == 1 or qtype == "F32":
            out[g] = w.astype(np.float32)
        elif qtype == "F16":
            out[g] = w.astype(np.float16)
        else:
            out[g] = (qtype, gguf.quants.quantize(w, gguf.GGMLQuantizationType[qtype]))
    kv = {f"{arch}.block_count": HF_BLOCKS, f"{arch}.attention.head_count": HF_HEADS}
    kv[f"{arch}.attention.head_count_kv"] = HF_KV_HEADS
    return out, kv


def converted_model(d, gguf_name: str = "m.gguf"):
    """A small Hugging Face checkpoint (``model.safetensors``, with its
    config.json) and its Q4_0 conversion in ``d``, where blk.1.ffn_up is
    scaled by 1.5 (a ``transform``) and blk.1.ffn_norm is left out (only in
    A): the compare screen's tests and screenshot."""
    st, hf = hf_model(d)
    tensors, kv = convert_hf(
        hf,
        "Q4_0",
        drop=("model.layers.1.post_attention_layernorm.weight",),
        plant={"blk.1.ffn_up.weight": lambda w: w * 1.5},
    )
    return st, make_gguf(Path(d) / gguf_name, tensors, kv)

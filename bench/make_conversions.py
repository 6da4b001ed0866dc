"""Conversions to diff against their sources (``irpa diff --map``), built
with the gguf package alone (llama.cpp's converter needs torch):

- ``minilm-{f16,q8_0}.gguf`` from a BERT safetensors checkpoint with its
  config.json: names through ``gguf.get_tensor_name_map``, the tensors
  the converter drops (pooler, position_ids) dropped, 2-D weights as
  f16 or Q8_0 (``gguf.quants.quantize``), 1-D tensors in f32, as
  ``convert_hf_to_gguf.py`` writes them;
- ``requant.gguf`` from a quantized GGUF: every tensor dequantized and
  quantized again (the same type where ``gguf.quants`` can quantize it,
  Q8_0 for the K-quants it cannot), one tensor at a time.

Usage: python bench/make_conversions.py OUT_DIR [minilm_dir] [model.gguf]
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np


def convert_minilm(src_dir: str, out: str, qtype: str) -> None:
    import gguf
    from safetensors.numpy import load_file

    with open(os.path.join(src_dir, "config.json")) as fh:
        cfg = json.load(fh)
    tensors = load_file(os.path.join(src_dir, "model.safetensors"))
    arch = next(a for a, n in gguf.MODEL_ARCH_NAMES.items() if n == "bert")
    names = gguf.get_tensor_name_map(arch, cfg["num_hidden_layers"])
    w = gguf.GGUFWriter(out, "bert")
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_head_count(cfg["num_attention_heads"])
    w.add_embedding_length(cfg["hidden_size"])
    for name, t in tensors.items():
        hf = name.removeprefix("bert.")
        if hf in ("embeddings.position_ids", "pooler.dense.weight", "pooler.dense.bias"):
            continue  # the converter's BertModel.filter_tensors drops these
        g = names.get_name(hf, try_suffixes=(".weight", ".bias"))
        if g is None:
            print(f"skip {name}: no GGUF name", file=sys.stderr)
            continue
        t = t.astype(np.float32)
        if t.ndim == 1:
            w.add_tensor(g, t)
        elif qtype == "f16":
            w.add_tensor(g, t.astype(np.float16))
        else:
            qt = gguf.GGMLQuantizationType[qtype.upper()]
            w.add_tensor(g, gguf.quants.quantize(t, qt), raw_dtype=qt)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def requantize(src: str, out: str) -> None:
    import gguf

    r = gguf.GGUFReader(src)
    arch = bytes(r.fields["general.architecture"].parts[-1]).decode()
    w = gguf.GGUFWriter(out, arch)
    for f in r.fields.values():
        if f.name.startswith(("general.architecture", "GGUF.")):
            continue
        t = f.types[0]
        if t == gguf.GGUFValueType.ARRAY:
            w.add_key_value(f.name, f.contents(), t, sub_type=f.types[-1])
        else:
            w.add_key_value(f.name, f.contents(), t)
    for t in r.tensors:
        qt = gguf.GGMLQuantizationType(t.tensor_type)
        shape = tuple(int(x) for x in reversed(t.shape))
        if qt in (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16):
            w.add_tensor(t.name, np.asarray(t.data).reshape(shape))
            continue
        values = gguf.quants.dequantize(np.asarray(t.data), qt).reshape(shape)
        try:
            q = gguf.quants.quantize(values, qt)
        except (NotImplementedError, gguf.quants.QuantError):
            qt = gguf.GGMLQuantizationType.Q8_0
            q = gguf.quants.quantize(values, qt)
        w.add_tensor(t.name, q, raw_dtype=qt)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main() -> None:
    out = sys.argv[1]
    minilm = sys.argv[2] if len(sys.argv) > 2 else "/work/models/minilm"
    model = sys.argv[3] if len(sys.argv) > 3 else "/work/models/gemma.gguf"
    os.makedirs(out, exist_ok=True)
    for q in ("f16", "q8_0"):
        convert_minilm(minilm, os.path.join(out, f"minilm-{q}.gguf"), q)
    requantize(model, os.path.join(out, "requant.gguf"))


if __name__ == "__main__":
    main()

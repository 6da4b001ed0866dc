"""Fixture builders shared by the tests: real files written by the real
writers (the ``safetensors`` and ``gguf`` packages, IREE's tools), small
enough to build in ``tmp_path`` in milliseconds."""

from __future__ import annotations

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


def make_irpa_with_iree(path, *create_flags: str) -> Path:
    """An archive written by the reference ``iree-create-parameters``."""
    oracle.run_tool("iree-create-parameters", f"--output={path}", *create_flags)
    return Path(path)

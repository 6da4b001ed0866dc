"""What a model is, at a glance: ``irpa info`` and the TUI's ``i``.

Each figure says where it comes from, because the three formats know very
different things about themselves:

- GGUF keys (``general.architecture``, ``ARCH.block_count``...), also found
  in an IRPA archive's ``__SHARK_DATASET__`` entry;
- a Hugging Face ``config.json`` beside a safetensors file (``hidden_size``,
  ``num_hidden_layers``...), and the file's ``__metadata__``;
- the tensors themselves (numbered blocks, the token embedding's shape),
  marked "inferred from ...".

A figure none of them gives is ``None`` (shown as "unknown"): never a
silent guess. Counts, sizes and the dtype mix come from the entries and are
exact. Buffers (``is_buffer``: integer indices such as BERT's
``position_ids``, boolean masks) are tensors but not parameters: they are
counted apart.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field

from . import naming
from .blocks import block_of
from .display import escape, human, plural, shown
from .errors import IrpaError
from .formats import dataset_meta, registry
from .model import DATA, Archive, Entry, read_bytes

TYPE_CHECKING = False
if TYPE_CHECKING:  # importing typing slows start-up (bench/RESULTS.md)
    from typing import Any

UNKNOWN = "unknown"
# Entries that hold metadata (JSON blobs), not parameters.
METADATA_ENTRIES = (dataset_meta.NAME, "__SHARK_INFERENCE_TENSORS__")


@dataclass(frozen=True)
class Fact:
    """A figure and where it comes from (``value`` None: unknown)."""

    value: Any = None
    source: str = ""

    @property
    def known(self) -> bool:
        return self.value is not None

    def to_json(self) -> dict:
        return {"value": self.value, "source": self.source or None}


@dataclass(frozen=True)
class Share:
    """Tensors of one dtype: how many, their elements and bytes."""

    dtype: str
    tensors: int
    elements: int
    bytes: int

    @property
    def bits_per_weight(self) -> float | None:
        return 8 * self.bytes / self.elements if self.elements else None

    def to_json(self) -> dict:
        return {
            "dtype": self.dtype,
            "tensors": self.tensors,
            "elements": self.elements,
            "bytes": self.bytes,
            "bits_per_weight": self.bits_per_weight,
        }


@dataclass(frozen=True)
class Group:
    """Tensors of one role across the blocks (``ffn_down``): the dtype of
    each, most frequent first."""

    role: str
    dtypes: tuple[tuple[str, int], ...]
    elements: int
    bytes: int

    @property
    def tensors(self) -> int:
        return sum(n for _, n in self.dtypes)

    @property
    def bits_per_weight(self) -> float | None:
        return 8 * self.bytes / self.elements if self.elements else None

    @property
    def mix(self) -> str:
        """``Q6_K x9, Q4_K x9``."""
        return ", ".join(f"{d} x{n}" for d, n in self.dtypes)

    def to_json(self) -> dict:
        return {
            "role": self.role,
            "dtypes": dict(self.dtypes),
            "tensors": self.tensors,
            "elements": self.elements,
            "bytes": self.bytes,
            "bits_per_weight": self.bits_per_weight,
        }


@dataclass(frozen=True)
class Summary:
    files: tuple[tuple[str, str], ...]  # (path, format)
    architecture: Fact
    name: Fact
    blocks: Fact
    embedding: Fact
    heads: Fact
    heads_kv: Fact
    context: Fact
    vocabulary: Fact
    tensors: int
    parameters: int  # elements of every tensor with a known dtype and shape
    bytes: int  # bytes of those tensors
    untyped: int = 0  # entries without a dtype (raw irpa entries) or holding metadata (METADATA_ENTRIES)
    untyped_bytes: int = 0
    buffers: tuple[str, ...] = ()  # names of the tensors ``is_buffer`` sets apart
    buffer_elements: int = 0
    buffer_bytes: int = 0
    by_dtype: tuple[Share, ...] = ()
    groups: tuple[Group, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def bits_per_weight(self) -> float | None:
        return 8 * self.bytes / self.parameters if self.parameters else None

    FACTS = ("architecture", "name", "blocks", "embedding", "heads", "heads_kv", "context", "vocabulary")

    def facts(self) -> list[tuple[str, Fact]]:
        return [(k, getattr(self, k)) for k in self.FACTS]

    def to_json(self) -> dict:
        return {
            "files": [{"path": p, "format": f} for p, f in self.files],
            **{k: f.to_json() for k, f in self.facts()},
            "tensors": self.tensors,
            "parameters": self.parameters,
            "bytes": self.bytes,
            "bits_per_weight": self.bits_per_weight,
            "untyped_entries": self.untyped,
            "untyped_bytes": self.untyped_bytes,
            "buffers": list(self.buffers),
            "buffer_elements": self.buffer_elements,
            "buffer_bytes": self.buffer_bytes,
            "by_dtype": [s.to_json() for s in self.by_dtype],
            "groups": [g.to_json() for g in self.groups],
            "notes": list(self.notes),
        }


# ---------------------------------------------------------------------------
# Where figures come from


@dataclass(frozen=True)
class _Source:
    """A mapping of keys to values and how to name it in a ``Fact``."""

    label: str  # "GGUF key", "__SHARK_DATASET__ key", "config.json", "__metadata__"
    values: dict[str, Any]

    def get(self, key: str) -> Fact | None:
        if key not in self.values:
            return None
        v = self.values[key]
        if isinstance(v, tuple) and len(v) == 2 and isinstance(v[1], list):  # (element type, items)
            v = v[1]
        return Fact(v, f"{self.label} {key}")


def _sources(archive: Archive) -> tuple[list[_Source], list[_Source], list[str]]:
    """GGUF-style sources (GGUF files, __SHARK_DATASET__) and Hugging Face
    style ones (config.json, __metadata__); notes on what could not be read."""
    gguf: list[_Source] = []
    hf: list[_Source] = []
    notes: list[str] = []
    seen_dirs: set[str] = set()
    for f in archive.files:
        spec = registry.find(f.format)
        if spec is None:
            continue  # a plain data file
        if spec.file_metadata == registry.KEY_VALUES:
            gguf.append(_Source("GGUF key", dict(f.metadata)))
        elif spec.config_beside:
            if f.metadata:
                hf.append(_Source("__metadata__", dict(f.metadata)))
            d = os.path.dirname(os.path.abspath(f.path))
            if d not in seen_dirs:
                seen_dirs.add(d)
                cfg = config_json(d, notes)
                if cfg is not None:
                    hf.append(_Source("config.json", cfg))
    for e in archive.entries:
        if e.name == dataset_meta.NAME and e.kind == DATA and e.length < (64 << 20):
            try:
                blob = read_bytes(e)
                meta, _types = dataset_meta.decode(blob)
                hparams = dataset_meta.decode_properties(blob).get("hparams")
            except (ValueError, OSError, IrpaError) as err:
                notes.append(f"{dataset_meta.NAME} could not be read: {err}")
                continue
            gguf.append(_Source(f"{dataset_meta.NAME} key", meta))
            if isinstance(hparams, dict):  # sharktank's own hyperparameters
                gguf.append(_Source(f"{dataset_meta.NAME} hparams", hparams))
    return gguf, hf, notes


def config_json(directory: str, notes: list[str]) -> dict | None:
    """The ``config.json`` in ``directory`` (a multimodal one's ``text_config``
    merged in), or None; why it could not be read goes to ``notes``."""
    path = os.path.join(directory, "config.json")
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except (OSError, ValueError) as e:
        notes.append(f"config.json beside the file could not be read: {e}")
        return None
    if not isinstance(doc, dict):
        return None
    # Multimodal configs keep the language model's figures in text_config.
    text = doc.get("text_config")
    if isinstance(text, dict):
        doc = {**doc, **{k: v for k, v in text.items() if k not in doc}}
    return doc


def _first(*facts: Fact | None) -> Fact:
    for f in facts:
        if f is not None and f.value is not None:
            return f
    return Fact()


def _get(sources: list[_Source], *keys: str) -> Fact | None:
    for s in sources:
        for k in keys:
            f = s.get(k)
            if f is not None and f.value is not None:
                return f
    return None


# Architecture signatures in tensor names (first match wins).
_SIGNATURES = (
    (re.compile(r"\battention\.self\.query\b"), "bert"),
    (re.compile(r"\bself_attn\.q_proj\b.*|\bmlp\.gate_proj\b"), "llama-like (q_proj/gate_proj names)"),
    (re.compile(r"\battn\.c_attn\b"), "gpt2"),
    (re.compile(r"^blk\.\d+\.attn_q\b"), "llama.cpp layout (blk.N.attn_q)"),
    (re.compile(r"\bencoder\.layers?\.\d+\b.*\bdecoder\b|\bdecoder\.layers?\.\d+\b"), "encoder-decoder"),
)
_TOKEN_EMBEDDING = re.compile(r"(^|\.)(token_embd|embed_tokens|word_embeddings|wte|tok_embeddings)(\.weight)?$")
_POSITION_EMBEDDING = re.compile(r"(^|\.)(position_embeddings|wpe|embed_positions)(\.weight)?$")


def _infer_architecture(entries: tuple[Entry, ...]) -> Fact:
    for rx, label in _SIGNATURES:
        for e in entries:
            if rx.search(e.name):
                return Fact(label, "inferred from tensor names")
    return Fact()


def _infer_blocks(entries: tuple[Entry, ...]) -> Fact:
    # The numbered component right after a block container name.
    found = set()
    for e in entries:
        b = block_of(e.name)
        if b is not None:
            found.add(b)
    if not found:
        return Fact()
    return Fact(len(found), "inferred from numbered blocks in tensor names")


def _find(entries: tuple[Entry, ...], rx: re.Pattern) -> Entry | None:
    return next((e for e in entries if rx.search(e.name) and e.shape and len(e.shape) == 2), None)


# ---------------------------------------------------------------------------
# The summary


def summarize(archive: Archive) -> Summary:
    """The model summary of an opened archive (reads only metadata, plus a
    ``__SHARK_DATASET__`` entry and a ``config.json`` beside safetensors)."""
    gguf, hf, notes = _sources(archive)
    entries = archive.entries
    gguf_arch = _get(gguf, "general.architecture")
    arch_fact = _first(
        gguf_arch,
        _get(hf, "model_type"),
        _architectures(hf),
        _infer_architecture(entries),
    )
    arch = gguf_arch.value if gguf_arch is not None and isinstance(gguf_arch.value, str) else None

    def a(key: str) -> tuple[str, ...]:
        # GGUF keeps the hyperparameters under the architecture's name;
        # sharktank's hparams may hold them bare.
        return (f"{arch}.{key}", key) if arch else (key,)

    token = _find(entries, _TOKEN_EMBEDDING)
    position = _find(entries, _POSITION_EMBEDDING)
    tokens = _get(gguf, "tokenizer.ggml.tokens")
    vocab_from_tokens = Fact(_length(tokens.value), tokens.source + " (count)") if tokens else None

    return Summary(
        files=tuple((f.path, f.format) for f in archive.files),
        architecture=arch_fact,
        name=_first(_get(gguf, "general.name"), _get(hf, "_name_or_path", "name")),
        blocks=_first(
            _get(gguf, *a("block_count")),
            _get(hf, "num_hidden_layers", "n_layer", "num_layers"),
            _infer_blocks(entries),
        ),
        embedding=_first(
            _get(gguf, *a("embedding_length")),
            _get(hf, "hidden_size", "n_embd", "d_model"),
            Fact(token.shape[-1], f"inferred from the shape of {token.name}") if token and token.shape else None,
        ),
        heads=_first(_get(gguf, *a("attention.head_count")), _get(hf, "num_attention_heads", "n_head")),
        heads_kv=_first(
            _get(gguf, *a("attention.head_count_kv")),
            _get(hf, "num_key_value_heads"),
        ),
        context=_first(
            _get(gguf, *a("context_length")),
            _get(hf, "max_position_embeddings", "n_positions", "n_ctx"),
            Fact(position.shape[0], f"inferred from the shape of {position.name}")
            if position and position.shape
            else None,
        ),
        vocabulary=_first(
            vocab_from_tokens,
            _get(gguf, *a("vocab_size")),
            _get(hf, "vocab_size"),
            Fact(token.shape[0], f"inferred from the shape of {token.name}") if token and token.shape else None,
        ),
        **_counts(entries),
        notes=tuple(notes),
    )


def _architectures(hf: list[_Source]) -> Fact | None:
    f = _get(hf, "architectures")
    if f is not None and isinstance(f.value, list) and f.value:
        return Fact(str(f.value[0]), f.source)
    return None


def _length(v: Any) -> int | None:
    if hasattr(v, "count") and not isinstance(v, (list, tuple, str)):
        return int(v.count)  # a lazy GGUF array
    if isinstance(v, (list, tuple)):
        return len(v)
    return None


def is_buffer(entry: Entry) -> bool:
    """Whether a tensor is a buffer, not a parameter: 64-bit integers
    (torch's index type: ``position_ids``, ``token_type_ids``,
    ``num_batches_tracked``) or booleans (masks). Narrower integers stay
    parameters: int8 and int32 hold quantized weights (GPTQ/AWQ pack
    ``qweight`` in int32)."""
    d = entry.dtype
    return d is not None and (d.kind == "bool" or (d.kind in ("int", "uint") and d.itemsize == 8))


def _counts(entries: tuple[Entry, ...]) -> dict:
    shares: dict[str, list[int]] = {}
    groups: dict[str, dict] = {}
    tensors = parameters = size = untyped = untyped_bytes = buffer_elements = buffer_bytes = 0
    buffers: list[str] = []
    for e in entries:
        n = e.element_count
        if e.dtype is None or e.dtype.kind == "raw" or n is None or e.name in METADATA_ENTRIES:
            untyped += 1
            untyped_bytes += e.length
            continue
        if is_buffer(e):
            buffers.append(e.name)
            buffer_elements += n
            buffer_bytes += e.length
            continue
        tensors += 1
        parameters += n
        size += e.length
        s = shares.setdefault(e.dtype.name, [0, 0, 0])
        s[0] += 1
        s[1] += n
        s[2] += e.length
        g = groups.setdefault(naming.role(e.name), {"dtypes": {}, "elements": 0, "bytes": 0, "first": len(groups)})
        g["dtypes"][e.dtype.name] = g["dtypes"].get(e.dtype.name, 0) + 1
        g["elements"] += n
        g["bytes"] += e.length
    by_dtype = tuple(Share(d, t, n, b) for d, (t, n, b) in sorted(shares.items(), key=lambda kv: (-kv[1][2], kv[0])))
    group_list = tuple(
        Group(role, tuple(sorted(g["dtypes"].items(), key=lambda kv: (-kv[1], kv[0]))), g["elements"], g["bytes"])
        for role, g in sorted(groups.items(), key=lambda kv: kv[1]["first"])
    )
    return {
        "tensors": tensors,
        "parameters": parameters,
        "bytes": size,
        "untyped": untyped,
        "untyped_bytes": untyped_bytes,
        "buffers": tuple(buffers),
        "buffer_elements": buffer_elements,
        "buffer_bytes": buffer_bytes,
        "by_dtype": by_dtype,
        "groups": group_list,
    }


# -- text shared by the front ends (irpa info, the TUI's summary) --------------

LABELS = {
    "architecture": "architecture",
    "name": "name",
    "blocks": "blocks",
    "embedding": "embedding width",
    "heads": "attention heads",
    "heads_kv": "key/value heads",
    "context": "context length",
    "vocabulary": "vocabulary",
}


def fact_text(value) -> str:
    if value is None:
        return "unknown"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    return escape(str(value))


def short_count(n: int) -> str:
    """268065920 -> '268.1M'."""
    for unit, div in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= div:
            return f"{n / div:.1f}{unit}"
    return str(n)


def parameters_text(n: int) -> str:
    """``268,065,920 (268.1M)``; ``80`` (no short form that says the same)."""
    short = short_count(n)
    return f"{n:,}" if short == str(n) else f"{n:,} ({short})"


def count_rows(s: Summary) -> list[tuple[str, str, str]]:
    """The counts under the facts as (label, value, detail): the same words
    for ``irpa info`` and the TUI's summary (names escaped and clipped)."""
    rows = [
        ("parameters", parameters_text(s.parameters), f"in {plural(s.tensors, 'tensor')}, {human(s.bytes)}"),
        ("bits per weight", bpw(s.bits_per_weight), "bytes x 8 / elements, every tensor"),
    ]
    if s.buffers:
        names = ", ".join(shown(n, 80) for n in s.buffers[:3]) + (
            f" and {len(s.buffers) - 3:,} more" if len(s.buffers) > 3 else ""
        )
        rows.append(
            (
                "buffers",
                f"{plural(len(s.buffers), 'tensor')}, {plural(s.buffer_elements, 'element')}",
                f"{human(s.buffer_bytes)} of integer indices or masks, not parameters: {names}",
            )
        )
    if s.untyped:
        rows.append(
            (
                "not counted",
                plural(s.untyped, "entry", "entries"),
                f"{human(s.untyped_bytes)} without a dtype or of metadata",
            )
        )
    return rows


def bpw(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"

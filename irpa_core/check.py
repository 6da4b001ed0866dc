"""Does a file hold together as a model of its architecture? (``irpa check``,
the TUI's summary and its write dialog.)

A GGUF names its architecture (``general.architecture``) and its
hyperparameters (``ARCH.block_count``, ``ARCH.embedding_length``...); llama.cpp
refuses a file whose tensors disagree with them ("tensor
'blk.1.attn_norm.weight' not found", "wrong number of tensors", "tensor ...
has wrong shape", "key ... has wrong array length", "data is not within the
file bounds"). This module finds the same
disagreements before a runtime does, from names, shapes and key/values
only (no tensor data is read):

- every tensor name is one the architecture knows: the ``gguf`` package's
  ``MODEL_TENSORS``/``TENSOR_NAMES`` tables, ``.weight``/``.bias``... after it;
- numbered blocks run 0..block_count-1, with the same roles in each (a block
  that has fewer roles than the others, or more, is named with them);
  hybrid models that declare different layers (per-layer arrays that vary,
  a ``nextn`` block) are not held to one set of roles;
- the tensors each architecture of ``RULES`` requires are there, with the
  shapes its hyperparameters give (``RULES`` says where each comes from);
- per-layer key arrays (``feed_forward_length``, ``attention.head_count``...)
  have block_count items; special token ids are inside the vocabulary; the
  token list, its scores and types, and ``token_embd`` rows agree.

A safetensors file with a Hugging Face ``config.json`` beside it is checked
the same way: its names are mapped to GGUF's (``gguf.get_tensor_name_map``)
and ``config.json``'s figures stand for the keys. Tensors without a GGUF name
(a pooler, ``position_ids``) are left alone there: converters drop them.

False alarms are worse than misses: a tensor llama.cpp loads as optional
(``TENSOR_NOT_REQUIRED``: ``output.weight`` tied to ``token_embd``, biases,
``rope_freqs``) is never required here, and an architecture the tables do not
know is only checked for what holds for every architecture.

``check_archive`` checks an opened archive; ``check_gguf`` and ``check_config``
take names, shapes and key/values, so the write dialog checks a planned
output (``check_output``) before anything is written.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from .display import plural
from .name_map import HF_ARCH, gguf_arch, hf_name_map

TYPE_CHECKING = False
if TYPE_CHECKING:  # importing typing slows start-up (bench/RESULTS.md)
    from typing import Any

    from .model import Archive
    from .output import Output
    from .plan import Fate, Plan

ERROR = "error"  # llama.cpp refuses it, or it is plainly inconsistent
WARNING = "warning"  # worth a look; the file may still load

Tensor = tuple[str, "tuple[int, ...] | None"]  # (name, row-major shape)


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One inconsistency: the key or tensor it is about, what was expected
    and what was found, and a sentence saying so."""

    severity: str  # ERROR or WARNING
    subject: str  # a metadata key or a tensor name
    expected: str
    found: str
    message: str

    def to_json(self) -> dict:
        return {
            "severity": self.severity,
            "subject": self.subject,
            "expected": self.expected,
            "found": self.found,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    """What ``check`` found. ``checked`` False: nothing to check against (no
    architecture known), the reason in ``notes``."""

    architecture: str | None = None
    source: str = ""  # "GGUF keys", "config.json", ...
    checked: bool = True
    tensors: int = 0
    blocks: int | None = None
    findings: tuple[Finding, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not any(f.severity == ERROR for f in self.findings)

    def to_json(self) -> dict:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "architecture": self.architecture,
            "source": self.source or None,
            "tensors": self.tensors,
            "blocks": self.blocks,
            "findings": [f.to_json() for f in self.findings],
            "notes": list(self.notes),
        }

    def headline(self) -> str:
        """One line: consistent, not checked, or how many findings."""
        if not self.checked:
            return "not checked: " + (self.notes[0] if self.notes else "nothing to check against")
        arch = self.architecture or "?"
        if not self.findings:
            blocks = f", {plural(self.blocks, 'block')}" if self.blocks else ""
            return f"ok: consistent as a {arch} model ({plural(self.tensors, 'tensor')}{blocks}; {self.source})"
        errors = sum(f.severity == ERROR for f in self.findings)
        warnings = len(self.findings) - errors
        parts = [plural(errors, "inconsistency", "inconsistencies")] if errors else []
        parts += [plural(warnings, "warning")] if warnings else []
        verdict = "inconsistent" if errors else "ok"
        return f"{verdict} as a {arch} model: {', '.join(parts)} ({self.source})"


def warning_lines(report: Report, limit: int = 4) -> list[str]:
    """The findings as warnings before a write (the TUI's write dialog):
    the verdict, the first ``limit`` findings, how many more."""
    if not report.findings:
        return []
    errors = sum(f.severity == ERROR for f in report.findings)
    what = plural(errors, "inconsistency", "inconsistencies")
    lines = [f"irpa check: llama.cpp would refuse this {report.architecture} GGUF ({what}):"] if errors else []
    lines += [f.message for f in report.findings[:limit]]
    if len(report.findings) > limit:
        lines.append(f"and {plural(len(report.findings) - limit, 'more finding')} (irpa check lists them all)")
    return lines


# ---------------------------------------------------------------------------
# Per-architecture rules
#
# What llama.cpp's loader requires of each architecture checked in depth, and
# the shapes it creates the tensors with. Source: llama.cpp
# src/llama-model.cpp, ``llama_model::load_tensors``, the ``case LLM_ARCH_...``
# of each (``create_tensor(tn(LLM_TENSOR_X, "weight", i), {ne0, ne1}, flags)``:
# flags 0 = required, TENSOR_NOT_REQUIRED = optional). Shapes here are
# row-major (ggml's ``{ne0, ne1}`` reversed). Symbols:
#   vocab  the vocabulary (tokens in tokenizer.ggml.tokens; vocab_size)
#   embd   embedding_length            ff     feed_forward_length (per layer)
#   q      head_count x key_length     kv_k   head_count_kv x key_length
#   kv_v   head_count_kv x value_length  head_k  key_length
#   ctx    context_length              expert expert_count
#   "*"    anything (not checked)
# ``when``: "dense" (expert_count 0) or "moe"; ``unless``: a role whose
# presence in the block replaces this one (BERT's fused attn_qkv).


@dataclass(frozen=True, slots=True)
class Rule:
    tensor: str  # gguf MODEL_TENSOR member name
    suffix: str = "weight"
    required: bool = True
    shape: tuple[str, ...] | None = None
    when: str = ""
    unless: str = ""


_LLAMA_GLOBAL = (
    Rule("TOKEN_EMBD", shape=("vocab", "embd")),
    Rule("OUTPUT_NORM", shape=("embd",)),
    Rule("OUTPUT", required=False, shape=("vocab", "embd")),  # absent: tied to token_embd (TENSOR_DUPLICATED)
    Rule("ROPE_FREQS", required=False),
)
_ATTENTION = (
    Rule("ATTN_NORM", shape=("embd",)),
    Rule("ATTN_Q", shape=("q", "embd")),
    Rule("ATTN_K", shape=("kv_k", "embd")),
    Rule("ATTN_V", shape=("kv_v", "embd")),
    Rule("ATTN_OUT", shape=("embd", "q")),
)
RULES: dict[str, dict[str, tuple[Rule, ...]]] = {
    # case LLM_ARCH_LLAMA (with REFACT, MINICPM, GRANITE): biases and
    # rope_freqs TENSOR_NOT_REQUIRED; dense FFN when n_expert == 0, else
    # ffn_gate_inp + ffn_{gate (optional),down,up}_exps.
    "llama": {
        "global": _LLAMA_GLOBAL,
        "block": (
            *_ATTENTION,
            *(Rule(t, "bias", required=False) for t in ("ATTN_Q", "ATTN_K", "ATTN_V", "ATTN_OUT")),
            Rule("FFN_NORM", shape=("embd",)),
            Rule("FFN_GATE", shape=("ff", "embd"), when="dense"),
            Rule("FFN_DOWN", shape=("embd", "ff"), when="dense"),
            Rule("FFN_UP", shape=("ff", "embd"), when="dense"),
            *(Rule(t, "bias", required=False) for t in ("FFN_GATE", "FFN_DOWN", "FFN_UP")),
            Rule("FFN_GATE_INP", shape=("expert", "embd"), when="moe"),
            Rule("FFN_GATE_EXP", required=False, when="moe"),
            Rule("FFN_DOWN_EXP", when="moe"),
            Rule("FFN_UP_EXP", when="moe"),
        ),
    },
    # case LLM_ARCH_GEMMA3: every block tensor required, q/k norms of one
    # head's size, post-attention and post-FFN norms; output optional.
    "gemma3": {
        "global": _LLAMA_GLOBAL[:3],
        "block": (
            *_ATTENTION,
            Rule("ATTN_POST_NORM", shape=("embd",)),
            Rule("ATTN_K_NORM", shape=("head_k",)),
            Rule("ATTN_Q_NORM", shape=("head_k",)),
            Rule("FFN_NORM", shape=("embd",)),
            Rule("FFN_GATE", shape=("ff", "embd")),
            Rule("FFN_UP", shape=("ff", "embd")),
            Rule("FFN_DOWN", shape=("embd", "ff")),
            Rule("FFN_POST_NORM", shape=("embd",)),
        ),
    },
    # case LLM_ARCH_BERT: token types, cls and cls.output optional; a block
    # has attn_qkv (optional) or q/k/v with biases; FFN biases optional.
    "bert": {
        "global": (
            Rule("TOKEN_EMBD", shape=("vocab", "embd")),
            Rule("TOKEN_TYPES", required=False, shape=("*", "embd")),
            Rule("POS_EMBD", shape=("ctx", "embd")),
            Rule("TOKEN_EMBD_NORM", shape=("embd",)),
            Rule("TOKEN_EMBD_NORM", "bias", shape=("embd",)),
            Rule("CLS", required=False),
            Rule("CLS", "bias", required=False),
            Rule("CLS_OUT", required=False),
            Rule("CLS_OUT", "bias", required=False),
        ),
        "block": (
            Rule("ATTN_QKV", required=False),
            Rule("ATTN_QKV", "bias", required=False),
            Rule("ATTN_Q", shape=("embd", "embd"), unless="ATTN_QKV"),
            Rule("ATTN_Q", "bias", shape=("embd",), unless="ATTN_QKV"),
            Rule("ATTN_K", shape=("kv_k", "embd"), unless="ATTN_QKV"),
            Rule("ATTN_K", "bias", shape=("kv_k",), unless="ATTN_QKV"),
            Rule("ATTN_V", shape=("kv_v", "embd"), unless="ATTN_QKV"),
            Rule("ATTN_V", "bias", shape=("kv_v",), unless="ATTN_QKV"),
            Rule("ATTN_OUT", shape=("embd", "embd")),
            Rule("ATTN_OUT", "bias", shape=("embd",)),
            Rule("ATTN_OUT_NORM", shape=("embd",)),
            Rule("ATTN_OUT_NORM", "bias", shape=("embd",)),
            Rule("FFN_UP", shape=("ff", "embd")),
            Rule("FFN_UP", "bias", required=False, shape=("ff",)),
            Rule("FFN_DOWN", shape=("embd", "ff")),
            Rule("FFN_DOWN", "bias", required=False, shape=("embd",)),
            Rule("LAYER_OUT_NORM", shape=("embd",)),
            Rule("LAYER_OUT_NORM", "bias", shape=("embd",)),
        ),
    },
}

# What a shape symbol stands for, in messages.
_SYMBOLS = {
    "vocab": "the vocabulary",
    "embd": "the embedding width",
    "ff": "the feed-forward length",
    "q": "heads x key size",
    "kv_k": "key/value heads x key size",
    "kv_v": "key/value heads x value size",
    "head_k": "the key size",
    "ctx": "the context length",
    "expert": "the expert count",
}

# Numbered block containers llama.cpp counts with a block count key
# (T5's decoder with its own); other numbered groups (a vocoder's posnet.N,
# a vision tower's v.blk.N) are left alone.
_COUNTED = {"blk.": "block_count", "enc.blk.": "block_count", "dec.blk.": "decoder_block_count"}
# Keys llama.cpp reads with get_key_or_arr: a scalar, or one item per layer
# ("key ... has wrong array length" otherwise). Others it reads so
# (sliding_window_pattern) are left out: some architectures read them
# otherwise.
_PER_LAYER = ("feed_forward_length", "attention.head_count", "attention.head_count_kv")
# Keys that declare layers of different kinds: blocks need not share roles.
_LAYER_PATTERNS = (
    "leading_dense_block_count",
    "interleave_moe_layer_step",
    "full_attention_interval",
    "nextn_predict_layers",
    "moe_every_n_layers",
)
_NULL_TOKEN = (-1, 0xFFFFFFFF)  # LLAMA_TOKEN_NULL as a converter may write it
_TOKENS = "tokenizer.ggml.tokens"


# ---------------------------------------------------------------------------
# The gguf package's tables


@dataclass(frozen=True, slots=True)
class _Arch:
    name: str
    templates: frozenset[str]  # "blk.{bid}.attn_q", "token_embd"...


_ARCHES: dict[str, _Arch | None] = {}


def _arch(name: str) -> _Arch | None:
    """The gguf package's tensor names of an architecture (None: unknown)."""
    if name not in _ARCHES:
        import gguf

        arch = gguf_arch(name)
        if arch is None or arch not in gguf.MODEL_TENSORS:
            _ARCHES[name] = None
        else:
            templates = frozenset(gguf.TENSOR_NAMES[t] for t in gguf.MODEL_TENSORS[arch] if t in gguf.TENSOR_NAMES)
            _ARCHES[name] = _Arch(name, templates)
    return _ARCHES[name]


def _template(tensor: str) -> str:
    """A rule's MODEL_TENSOR member name as its name template. Templates, not
    members, identify a role: two members may share one (gemma3's
    FFN_PRE_NORM is llama's FFN_NORM, ``blk.{bid}.ffn_norm``)."""
    import gguf

    return gguf.TENSOR_NAMES[gguf.MODEL_TENSOR[tensor]]


_NUMBER = re.compile(r"\.(\d+)(?=\.|$)")


@dataclass(frozen=True, slots=True)
class _Named:
    shown: str  # the name in the file
    name: str  # its GGUF name
    shape: tuple[int, ...] | None
    kind: str | None = None  # its name template; None: not one the architecture knows
    suffix: str = ""
    prefix: str = ""  # "blk." for a numbered block's tensor
    block: int | None = None

    @property
    def role(self) -> tuple[str, str]:
        return (self.kind or "", self.suffix)


def _classify(arch: _Arch, shown: str, name: str, shape) -> _Named:
    """Which tensor of the architecture a GGUF name is: the template it
    matches (``blk.{bid}.attn_q``) followed by ``.weight``, ``.bias``..."""
    head, _, suffix = name.rpartition(".")
    for base, sfx in ((name, ""), (head, suffix)) if head else ((name, ""),):
        m = _NUMBER.search(base)
        generic = base[: m.start()] + ".{bid}" + base[m.end() :] if m else base
        if generic in arch.templates:
            kind = generic
            block = int(m.group(1)) if m and "{bid}" in generic else None
            prefix = base[: m.start() + 1] if block is not None and m else ""
            return _Named(shown, name, shape, kind, sfx, prefix, block)
    return _Named(shown, name, shape)


def _role_text(role: tuple[str, str]) -> str:
    """``attn_q.weight``: a role as it reads in a block's tensor names."""
    base = role[0].split("{bid}.", 1)[-1]
    return f"{base}.{role[1]}" if role[1] else base


def _tensor_name(role: tuple[str, str], block: int | None = None) -> str:
    """The GGUF name of a role (in ``block``, for a block's role)."""
    template = role[0]
    if block is not None:
        template = template.replace("{bid}", str(block))
    return f"{template}.{role[1]}" if role[1] else template


# ---------------------------------------------------------------------------
# Values


def _count(v: Any) -> int | None:
    """Items of an array value without decoding them (a lazy GGUF array's count)."""
    if v is None or isinstance(v, (str, bytes)):
        return None
    if hasattr(v, "count") and hasattr(v, "nbytes"):  # GGUFArray
        return int(v.count)
    if isinstance(v, tuple) and len(v) == 2 and isinstance(v[1], list):  # (element type, items)
        return len(v[1])
    if isinstance(v, (list, tuple)):
        return len(v)
    return None


def _items(v: Any) -> list | None:
    """Items of a short array (per-layer hyperparameters)."""
    if hasattr(v, "count") and hasattr(v, "nbytes"):
        return list(v.items()) if v.count <= 4096 else None
    if isinstance(v, tuple) and len(v) == 2 and isinstance(v[1], list):
        return v[1]
    if isinstance(v, list):
        return v
    return None


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _ranges(numbers: Iterable[int]) -> str:
    """[1, 2, 3, 5] -> '1..3, 5'."""
    out: list[str] = []
    run: list[int] = []
    for n in sorted(numbers):
        if run and n == run[-1] + 1:
            run.append(n)
            continue
        if run:
            out.append(str(run[0]) if len(run) == 1 else f"{run[0]}..{run[-1]}")
        run = [n]
    if run:
        out.append(str(run[0]) if len(run) == 1 else f"{run[0]}..{run[-1]}")
    return ", ".join(out)


def _shape_text(shape: Sequence[int] | None) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")" if shape else "()"


@dataclass
class _Hparams:
    """The hyperparameters a shape rule uses, with the keys they come from
    (a per-layer one may be a list)."""

    values: dict[str, Any] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)  # name -> the key as the file names it

    def get(self, name: str, block: int | None = None) -> int | None:
        v = self.values.get(name)
        if isinstance(v, list):
            if block is None or not (0 <= block < len(v)):
                return None
            v = v[block]
        return _int(v)

    def key(self, name: str) -> str:
        return self.keys.get(name, name)

    def symbol(self, sym: str, block: int | None) -> int | None:
        head = self.get("head_count", 0)
        head_i = self.get("head_count", block)
        head_kv = self.get("head_count_kv", block)
        if head_kv is None and self.values.get("head_count_kv") is None:
            head_kv = head_i  # head_count_kv defaults to head_count
        embd = self.get("embedding_length")
        head_k = self.get("key_length")
        if head_k is None and embd is not None and head:
            head_k = embd // head
        head_v = self.get("value_length")
        if head_v is None:
            head_v = head_k
        if sym == "vocab":
            return self.get("vocab")
        if sym == "embd":
            return embd
        if sym == "ff":
            return self.get("feed_forward_length", block)
        if sym == "ctx":
            return self.get("context_length")
        if sym == "expert":
            return self.get("expert_count")
        if sym == "head_k":
            return head_k
        if sym == "q":
            return head_i * head_k if head_i is not None and head_k is not None else None
        if sym == "kv_k":
            return head_kv * head_k if head_kv is not None and head_k is not None else None
        if sym == "kv_v":
            return head_kv * head_v if head_kv is not None and head_v is not None else None
        return None


# ---------------------------------------------------------------------------
# The check itself (shared by every entry point)


def _check_tensors(
    arch: _Arch,
    named: list[_Named],
    hp: _Hparams,
    *,
    strict_names: bool,
    heterogeneous: bool,
) -> tuple[list[Finding], int | None]:
    """Findings about the tensors against the architecture and ``hp``, and
    the block count used."""
    findings: list[Finding] = []
    rules = RULES.get(arch.name)
    dense = not (hp.get("expert_count") or 0)

    def applies(r: Rule) -> bool:
        return not r.when or (r.when == "dense") == dense

    if strict_names:
        findings += _unknown_names(arch, [t for t in named if t.kind is None], bool(rules))
    known = [t for t in named if t.kind is not None]
    by_name = {t.name: t for t in known}
    shown = {t.name: t.shown for t in known}

    def name_of(role: tuple[str, str], prefix: str = "", block: int | None = None, like: _Named | None = None) -> str:
        """A missing tensor's name as this file would spell it (a sibling
        block's name renumbered, for a Hugging Face file)."""
        gguf_name = _tensor_name(role, block)
        if like is not None and like.shown != like.name and block is not None and like.block is not None:
            return re.sub(rf"(?<=\.){like.block}(?=\.)", str(block), like.shown, count=1)
        return shown.get(gguf_name, gguf_name)

    # -- global tensors the architecture requires
    if rules:
        for r in rules["global"]:
            role = (_template(r.tensor), r.suffix)
            if r.required and applies(r) and _tensor_name(role) not in by_name:
                missing = _tensor_name(role)
                findings.append(
                    Finding(
                        severity=ERROR,
                        subject=missing,
                        expected="present",
                        found="absent",
                        message=f"missing tensor '{missing}': a {arch.name} model requires it",
                    )
                )

    # -- numbered blocks
    groups: dict[str, dict[int, dict[tuple[str, str], _Named]]] = {}
    for t in known:
        if t.block is not None and t.prefix in _COUNTED:
            groups.setdefault(t.prefix, {}).setdefault(t.block, {})[t.role] = t
    block_count = hp.get("block_count")
    required_roles: list[tuple[str, str]] = []
    if rules:
        required_roles = [(_template(r.tensor), r.suffix) for r in rules["block"] if r.required and applies(r)]
    for prefix, blocks in groups.items():
        count_name = _COUNTED[prefix]
        count = hp.get(count_name)
        if count is None and count_name != "block_count":
            count = block_count
        count_key = hp.key(count_name if hp.get(count_name) is not None else "block_count")
        present = sorted(blocks)
        if count is None and strict_names:  # (a config.json may name it otherwise: not judged)
            findings.append(
                Finding(
                    severity=ERROR,
                    subject=hp.key("block_count"),
                    expected=f"the number of blocks ({present[-1] + 1} from the tensor names)",
                    found="no such key",
                    message=f"no {hp.key('block_count')}: llama.cpp requires the block count",
                )
            )
        if count is None:
            count = present[-1] + 1
        # Roles a block has, for naming what a missing block lacks.
        common = _reference(blocks)
        order = [r for r in required_roles if r in common] + [r for r in common if r not in required_roles]
        expected_roles = order or required_roles
        beyond = [b for b in present if b >= count]
        if beyond:
            first = blocks[beyond[0]]
            t0 = min(first.values(), key=lambda t: t.shown).shown
            n = sum(len(blocks[b]) for b in beyond)
            findings.append(
                Finding(
                    severity=ERROR,
                    subject=count_key,
                    expected=f"blocks 0..{count - 1} ({count_key} = {count})",
                    found=f"tensors of block{'s' if len(beyond) > 1 else ''} {_ranges(beyond)}",
                    message=f"{plural(n, 'tensor')} of block{'s' if len(beyond) > 1 else ''} {_ranges(beyond)} "
                    f"('{t0}'...) lie beyond {count_key} = {count}: llama.cpp does not load them and refuses "
                    "the file ('wrong number of tensors')",
                )
            )
        empty = [b for b in range(count) if b not in blocks and not _declared_empty(hp, b)]
        for run in _runs(empty) if expected_roles else []:
            first_missing = name_of(expected_roles[0], prefix, run[0], _like(blocks, expected_roles[0]))
            blocks_text = f"block {run[0]}" if len(run) == 1 else f"blocks {run[0]}..{run[-1]}"
            per = len(expected_roles)
            findings.append(
                Finding(
                    severity=ERROR,
                    subject=first_missing,
                    expected=f"blocks 0..{count - 1} ({count_key} = {count})",
                    found=f"no tensors in {blocks_text}",
                    message=f"missing tensor '{first_missing}': {count_key} = {count} but {blocks_text} "
                    f"{'has' if len(run) == 1 else 'have'} no tensors (expected "
                    f"{plural(per, 'tensor')} each, as the blocks present have; set {count_key} to the blocks kept, "
                    "or keep the blocks)",
                )
            )
        # Roles llama.cpp requires in every block.
        reported: set[tuple[int, tuple[str, str]]] = set()
        if rules:
            for r in rules["block"]:
                role = (_template(r.tensor), r.suffix)
                if not r.required or not applies(r):
                    continue
                lacking = [b for b in present if b < count and role not in blocks[b]]
                lacking = [b for b in lacking if not (r.unless and (_template(r.unless), "weight") in blocks[b])]
                if not lacking:
                    continue
                reported.update((b, role) for b in lacking)
                missing = name_of(role, prefix, lacking[0], _like(blocks, role))
                more = f" (and in block{'s' if len(lacking) > 2 else ''} {_ranges(lacking[1:])})" if lacking[1:] else ""
                findings.append(
                    Finding(
                        severity=ERROR,
                        subject=missing,
                        expected=f"{_role_text(role)} in every block",
                        found=f"absent from block{'s' if len(lacking) > 1 else ''} {_ranges(lacking)}",
                        message=f"missing tensor '{missing}'{more}: a {arch.name} block requires it",
                    )
                )
        # The same roles in every block.
        if not heterogeneous and len(present) > 1:
            findings += _uniformity(blocks, common, reported, name_of, prefix, verified=bool(rules))

    # -- shapes
    if rules:
        table = {(_template(r.tensor), r.suffix): r for part in ("global", "block") for r in rules[part] if applies(r)}
        for t in known:
            rule = table.get(t.role)
            if rule is None or rule.shape is None or t.shape is None:
                continue
            f = _shape_finding(t, rule.shape, hp)
            if f is not None:
                findings.append(f)
    else:  # any architecture: token_embd's rows are the vocabulary
        embd = by_name.get(_tensor_name((_template("TOKEN_EMBD"), "weight")))
        if embd is not None and embd.shape is not None and len(embd.shape) == 2:
            f = _shape_finding(embd, ("vocab", "*"), hp)
            if f is not None:
                findings.append(f)
    return findings, block_count


def _unknown_names(arch: _Arch, unknown: list[_Named], verified: bool) -> list[Finding]:
    """Names the architecture's table lacks. An error for an architecture
    of ``RULES`` (its table was read against llama.cpp's); elsewhere a
    warning, since the gguf package may be older than the converter that
    wrote the file."""
    severity = ERROR if verified else WARNING
    why = (
        "llama.cpp would not load it and refuses the file ('wrong number of tensors')"
        if verified
        else "llama.cpp may refuse the file ('wrong number of tensors'), unless it is newer than this gguf package"
    )
    out = [
        Finding(
            severity=severity,
            subject=t.shown,
            expected=f"a tensor name the {arch.name} architecture has (gguf MODEL_TENSORS)",
            found="a name it does not know",
            message=f"tensor '{t.shown}' is not one a {arch.name} model has: {why}",
        )
        for t in unknown[:20]
    ]
    if len(unknown) > 20:
        out.append(
            Finding(
                severity=severity,
                subject=unknown[20].shown,
                expected=f"tensor names the {arch.name} architecture has",
                found=f"{len(unknown) - 20:,} more unknown names",
                message=f"and {len(unknown) - 20:,} more tensors a {arch.name} model does not have",
            )
        )
    return out


def _reference(blocks: Mapping[int, Mapping[tuple[str, str], _Named]]) -> list[tuple[str, str]]:
    """The roles most blocks have (the smaller set on a tie), in name order.
    ``nextn`` roles (a multi-token-prediction block) do not count."""
    sets: dict[frozenset, int] = {}
    for roles in blocks.values():
        key = frozenset(r for r in roles if ".nextn." not in r[0])
        sets[key] = sets.get(key, 0) + 1
    if not sets:
        return []
    # On a tie the smaller set: a block with a role of its own (T5's
    # relative attention bias in block 0) is the odd one, not the others.
    best = max(sets, key=lambda s: (sets[s], -len(s)))
    first = next(b for b in sorted(blocks) if frozenset(r for r in blocks[b] if ".nextn." not in r[0]) == best)
    return [r for r in blocks[first] if r in best]


def _like(blocks: Mapping[int, Mapping[tuple[str, str], _Named]], role: tuple[str, str]) -> _Named | None:
    """A tensor of that role in some block (to spell a missing one after it)."""
    for b in sorted(blocks):
        if role in blocks[b]:
            return blocks[b][role]
    return None


def _runs(numbers: list[int]) -> list[list[int]]:
    runs: list[list[int]] = []
    for n in numbers:
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return runs


def _declared_empty(hp: _Hparams, block: int) -> bool:
    """A layer the per-layer arrays say has neither attention nor FFN."""
    return hp.get("head_count", block) == 0 and hp.get("feed_forward_length", block) == 0


def _uniformity(blocks, common, reported, name_of, prefix, *, verified: bool) -> list[Finding]:
    """Blocks whose roles are a strict subset or superset of the usual
    ones; other differences are layers of another kind (hybrid models).
    Only an architecture of ``RULES`` (verified: its blocks are alike in
    llama.cpp) has errors and extra roles named; elsewhere a block lacking
    roles is a warning (some architectures keep a tensor in one block only,
    as T5 its relative attention bias)."""
    out: list[Finding] = []
    ref = set(common)
    lacking: dict[tuple[str, str], list[int]] = {}
    extra: dict[tuple[str, str], list[int]] = {}
    for b in sorted(blocks):
        roles = {r for r in blocks[b] if ".nextn." not in r[0]}
        missing, more = ref - roles, roles - ref
        if missing and not more:
            for r in missing:
                if (b, r) not in reported:
                    lacking.setdefault(r, []).append(b)
        elif more and not missing and verified:
            for r in more - {r for _, r in reported}:  # (the others' lack of a required role is said already)
                extra.setdefault(r, []).append(b)
    others = len(blocks)
    for role in sorted(lacking, key=lambda r: common.index(r)):
        bs = lacking[role]
        missing = name_of(role, prefix, bs[0], _like(blocks, role))
        text = _role_text(role)
        out.append(
            Finding(
                severity=ERROR if verified else WARNING,
                subject=missing,
                expected=f"{text} in every block, as {others - len(bs)} of the {others} blocks have",
                found=f"absent from block{'s' if len(bs) > 1 else ''} {_ranges(bs)}",
                message=f"missing tensor '{missing}': block{'s' if len(bs) > 1 else ''} {_ranges(bs)} "
                f"{'lacks' if len(bs) == 1 else 'lack'} {text}, which the other blocks have",
            )
        )
    for role in sorted(extra):
        bs = extra[role]
        t = blocks[bs[0]][role].shown
        text = _role_text(role)
        out.append(
            Finding(
                severity=ERROR,
                subject=t,
                expected=f"the roles of the other blocks ({text} in none)",
                found=f"{text} in block{'s' if len(bs) > 1 else ''} {_ranges(bs)} only",
                message=f"tensor '{t}': block{'s' if len(bs) > 1 else ''} {_ranges(bs)} "
                f"{'has' if len(bs) == 1 else 'have'} {text}, which the other blocks lack",
            )
        )
    return out


def _shape_finding(t: _Named, spec: tuple[str, ...], hp: _Hparams) -> Finding | None:
    assert t.shape is not None
    values = [None if s == "*" else hp.symbol(s, t.block) for s in spec]
    if any(v is None for s, v in zip(spec, values) if s != "*"):
        return None  # a figure the file does not give: nothing to compare
    got = tuple(t.shape)
    # ggml compares 4 dimensions, missing ones being 1: (1, 640) is (640,)
    padded_got = (1,) * (4 - len(got)) + got if len(got) <= 4 else got
    want = [g if s == "*" or v is None else v for s, v, g in zip(spec, values, padded_got[-len(spec) :])]
    padded_want = (1,) * (4 - len(want)) + tuple(want)
    if padded_got == padded_want:
        return None
    expected = _shape_text(want)
    why = ", ".join(f"{v:,} {_SYMBOLS[s]}" for s, v in zip(spec, values) if s != "*" and v is not None)
    source = "; ".join(dict.fromkeys(_sources(spec, hp)))
    return Finding(
        severity=ERROR,
        subject=t.shown,
        expected=expected,
        found=_shape_text(got),
        message=f"tensor '{t.shown}' has wrong shape; expected {expected}, got {_shape_text(got)} ({why}: {source})",
    )


def _sources(spec: Sequence[str], hp: _Hparams) -> list[str]:
    uses = {
        "vocab": ["vocab"],
        "embd": ["embedding_length"],
        "ff": ["feed_forward_length"],
        "ctx": ["context_length"],
        "expert": ["expert_count"],
        "head_k": ["key_length", "head_count"],
        "q": ["head_count", "key_length"],
        "kv_k": ["head_count_kv", "key_length"],
        "kv_v": ["head_count_kv", "value_length"],
    }
    out = []
    for s in spec:
        for name in uses.get(s, []):
            if name in hp.values and hp.values[name] is not None:
                out.append(hp.key(name))
    return out


# ---------------------------------------------------------------------------
# GGUF


def check_gguf(tensors: Iterable[Tensor], values: Mapping[str, Any]) -> Report:
    """Check GGUF-named tensors ``(name, shape)`` against GGUF key/values
    (``values`` as our readers give them: arrays lazy, or lists)."""
    tensors = list(tensors)
    arch_name = values.get("general.architecture")
    kind = values.get("general.type")
    if isinstance(kind, str) and kind not in ("model", ""):
        return Report(checked=False, tensors=len(tensors), notes=(f"general.type is {kind!r}, not a model",))
    if not isinstance(arch_name, str):
        return Report(
            checked=False, tensors=len(tensors), notes=("no general.architecture key: no architecture to check",)
        )
    if arch_name == "clip":  # a multimodal projector: llama.cpp's mtmd reads it, not its model loader
        return Report(checked=False, tensors=len(tensors), notes=("a multimodal projector (clip): not checked",))
    hp = _Hparams()
    for name in (
        "block_count",
        "decoder_block_count",
        "embedding_length",
        "context_length",
        "feed_forward_length",
        "expert_count",
        "attention.head_count",
        "attention.head_count_kv",
        "attention.key_length",
        "attention.value_length",
    ):
        key = f"{arch_name}.{name}"
        short = name.removeprefix("attention.")
        hp.keys[short] = key
        v = values.get(key)
        items = _items(v) if _count(v) is not None else None
        hp.values[short] = items if items is not None else _int(v)
    tokens = values.get(_TOKENS)
    n_tokens = _count(tokens)
    if n_tokens is not None:
        hp.values["vocab"], hp.keys["vocab"] = n_tokens, f"{n_tokens:,} tokens in {_TOKENS}"
    else:
        v = _int(values.get(f"{arch_name}.vocab_size"))
        hp.values["vocab"], hp.keys["vocab"] = v, f"{arch_name}.vocab_size"

    findings: list[Finding] = []
    notes: list[str] = []
    findings += _per_layer_arrays(arch_name, values, hp)
    findings += _vocabulary(values, n_tokens)
    arch = _arch(arch_name)
    blocks = hp.get("block_count")
    if not tensors:
        notes.append("no tensors (a vocabulary-only file): only the key/values are checked")
    elif arch is None:
        notes.append(f"architecture {arch_name!r} is not in the gguf package's tables: only its key/values are checked")
    else:
        named = [_classify(arch, n, n, s) for n, s in tensors]
        heterogeneous = _heterogeneous(arch_name, values)
        more, blocks = _check_tensors(arch, named, hp, strict_names=True, heterogeneous=heterogeneous)
        findings += more
        if arch_name not in RULES:
            notes.append(
                f"{arch_name} has no rules of its own here: names, blocks, arrays and the vocabulary are checked"
            )
    return Report(
        architecture=arch_name,
        source="GGUF keys",
        tensors=len(tensors),
        blocks=blocks,
        findings=tuple(findings),
        notes=tuple(notes),
    )


def _heterogeneous(arch_name: str, values: Mapping[str, Any]) -> bool:
    """Whether the keys declare layers of different kinds."""
    if any(f"{arch_name}.{k}" in values for k in _LAYER_PATTERNS):
        return True
    for k in _PER_LAYER:
        items = _items(values.get(f"{arch_name}.{k}")) if _count(values.get(f"{arch_name}.{k}")) is not None else None
        if items is not None and len(set(map(str, items))) > 1:
            return True
    return False


def _per_layer_arrays(arch_name: str, values: Mapping[str, Any], hp: _Hparams) -> list[Finding]:
    out: list[Finding] = []
    count = hp.get("block_count")
    if count is None:
        return out
    for name in _PER_LAYER:
        key = f"{arch_name}.{name}"
        n = _count(values.get(key))
        if n is not None and n != count:
            out.append(
                Finding(
                    severity=ERROR,
                    subject=key,
                    expected=f"{count} items ({arch_name}.block_count), or one number",
                    found=f"{n} items",
                    message=f"key {key} has wrong array length; expected {count}, got {n} "
                    f"(one item per block: {arch_name}.block_count = {count})",
                )
            )
    return out


def _vocabulary(values: Mapping[str, Any], n_tokens: int | None) -> list[Finding]:
    out: list[Finding] = []
    if n_tokens is None:
        return out
    for key in ("tokenizer.ggml.scores", "tokenizer.ggml.token_type"):
        n = _count(values.get(key))
        if n is not None and n != n_tokens:
            out.append(
                Finding(
                    severity=ERROR,
                    subject=key,
                    expected=f"{n_tokens:,} items, one per token of {_TOKENS}",
                    found=f"{n:,} items",
                    message=f"{key} has {n:,} items but {_TOKENS} has {n_tokens:,}",
                )
            )
    for key in _token_id_keys():
        v = _int(values.get(key))
        if v is None or v in _NULL_TOKEN:
            continue
        if not 0 <= v < n_tokens:
            out.append(
                Finding(
                    severity=ERROR,
                    subject=key,
                    expected=f"a token id below {n_tokens:,} ({_TOKENS} has {n_tokens:,} tokens)",
                    found=str(v),
                    message=f"{key} = {v} is outside the vocabulary of {n_tokens:,} tokens ({_TOKENS})",
                )
            )
    return out


def _token_id_keys() -> list[str]:
    import gguf

    t = gguf.Keys.Tokenizer
    return [getattr(t, k) for k in vars(t) if k.endswith("_ID") and isinstance(getattr(t, k), str)]


# ---------------------------------------------------------------------------
# safetensors with a config.json

_HF_KEYS = {
    "block_count": ("num_hidden_layers", "n_layer", "num_layers"),
    "embedding_length": ("hidden_size", "n_embd", "d_model"),
    "context_length": ("max_position_embeddings", "n_positions", "n_ctx"),
    "feed_forward_length": ("intermediate_size", "n_inner"),
    "head_count": ("num_attention_heads", "n_head"),
    "head_count_kv": ("num_key_value_heads",),
    "key_length": ("head_dim",),
    "value_length": ("head_dim",),
    "expert_count": ("num_local_experts", "num_experts"),
    "vocab": ("vocab_size",),
}


def check_config(tensors: Iterable[Tensor], config: Mapping[str, Any]) -> Report:
    """Check Hugging Face tensors ``(name, shape)`` against the ``config.json``
    beside them, through the GGUF names llama.cpp's converter gives them."""
    tensors = list(tensors)
    model_type = config.get("model_type")
    if not isinstance(model_type, str):
        return Report(checked=False, tensors=len(tensors), notes=("config.json has no model_type",))
    arch_name = HF_ARCH.get(model_type, model_type)
    arch = _arch(arch_name)
    if arch is None:
        return Report(
            checked=False,
            tensors=len(tensors),
            notes=(f"model_type {model_type!r} is not an architecture in the gguf package's tables",),
        )
    hp = _Hparams()
    for name, keys in _HF_KEYS.items():
        for k in keys:
            if _int(config.get(k)) is not None:
                hp.values[name], hp.keys[name] = config[k], f"config.json {k}"
                break
    numbers = [int(m.group(1)) for n, _ in tensors for m in [re.search(r"\.(\d+)\.", n)] if m]
    n_blocks = max([hp.get("block_count") or 0, *(b + 1 for b in numbers)])
    names = hf_name_map(arch_name, n_blocks)
    assert names is not None  # _arch found it in the same tables
    named, unmapped = [], []
    for n, s in tensors:
        g = names.get_name(n, try_suffixes=(".weight", ".bias"))
        if g is None:
            unmapped.append(n)
        else:
            named.append(_classify(arch, n, g, s))
    notes = []
    if unmapped:
        shown = ", ".join(unmapped[:3]) + (", ..." if len(unmapped) > 3 else "")
        notes.append(f"{plural(len(unmapped), 'tensor')} without a GGUF name, not checked: {shown}")
    if len(unmapped) > len(named):  # a layout the converter renames first (a multimodal checkpoint's prefixes)
        why = f"most tensors have no GGUF name for {arch_name} ({len(unmapped):,} of {len(tensors):,})"
        return Report(architecture=arch_name, checked=False, tensors=len(tensors), notes=(why, *notes))
    findings, blocks = _check_tensors(arch, named, hp, strict_names=False, heterogeneous=False)
    vocab = hp.get("vocab")
    for key in ("bos_token_id", "eos_token_id", "pad_token_id"):
        v = config.get(key)
        for tid in v if isinstance(v, list) else [v]:
            tid = _int(tid)
            if tid is not None and vocab is not None and tid not in _NULL_TOKEN and not 0 <= tid < vocab:
                findings.append(
                    Finding(
                        severity=ERROR,
                        subject=f"config.json {key}",
                        expected=f"a token id below {vocab:,} (config.json vocab_size)",
                        found=str(tid),
                        message=f"config.json {key} = {tid} is outside the vocabulary of {vocab:,} tokens",
                    )
                )
    return Report(
        architecture=arch_name,
        source="config.json",
        tensors=len(tensors),
        blocks=blocks,
        findings=tuple(findings),
        notes=tuple(notes),
    )


# ---------------------------------------------------------------------------
# Entry points


def check_archive(archive: Archive) -> Report:
    """Check an opened archive: a GGUF (or an irpa holding GGUF keys) against
    its key/values, a safetensors file against the ``config.json`` beside it.
    Reads metadata only (and that config.json). A file cut off in its data
    is inconsistent whatever its names say: a runtime cannot load the
    tensors that are not there (llama.cpp: "data is not within the file
    bounds")."""
    report = _check_names(archive)
    cut = _cut_off(archive)
    if cut is None:
        return report
    return replace(report, checked=True, findings=(cut, *report.findings))


def _cut_off(archive: Archive) -> Finding | None:
    from .model import COMPLETE, bytes_present, entry_state
    from .salvage import truncation

    t = truncation(archive)
    if t is None:
        return None
    first = next(e for e in archive.entries if entry_state(e) != COMPLETE)
    return Finding(
        severity=ERROR,
        subject=first.name,
        expected=f"{first.length} bytes",
        found=f"{bytes_present(first)} bytes",
        message=f"tensor '{first.name}' is not within the file bounds: the file is cut off ({t.line()})",
    )


def _check_names(archive: Archive) -> Report:
    from . import filemeta
    from .formats import registry
    from .plan import Plan
    from .summary import METADATA_ENTRIES, config_json

    tensors = [(e.name, e.shape) for e in archive.entries if e.name not in METADATA_ENTRIES]
    meta = filemeta.read(filemeta.origin(archive, Plan().fates(archive)))
    if "general.architecture" in meta.values:
        return check_gguf(tensors, meta.values)
    for f in archive.files:
        spec = registry.find(f.format)
        if spec is not None and spec.config_beside and "://" not in f.path:
            notes: list[str] = []
            directory = os.path.dirname(os.path.abspath(f.path))
            missing = _missing_shards(directory, archive)
            if missing:
                why = f"{plural(missing, 'shard')} of this checkpoint not opened: open its directory to check it"
                return Report(checked=False, tensors=len(tensors), notes=(why,))
            cfg = config_json(directory, notes)
            if cfg is not None:
                return check_config(tensors, cfg)
            if notes:
                return Report(checked=False, tensors=len(tensors), notes=tuple(notes))
    specs = [registry.find(f.format) for f in archive.files]
    if any(spec is not None and spec.config_beside for spec in specs):
        why = "no config.json beside the file: no architecture to check against"
    else:
        why = "no general.architecture key: no architecture to check against"
    return Report(checked=False, tensors=len(tensors), notes=(why,))


def _missing_shards(directory: str, archive: Archive) -> int:
    """How many files of a sharded checkpoint's index (beside the file) the
    archive lacks: one shard alone lacks most of the model's blocks."""
    import json

    index = os.path.join(directory, "model.safetensors.index.json")
    try:
        with open(index, encoding="utf-8") as fh:
            weight_map = json.load(fh).get("weight_map", {})
    except (OSError, ValueError, AttributeError):
        return 0
    opened = {os.path.basename(f.path) for f in archive.files}
    return len({v for v in weight_map.values() if isinstance(v, str)} - opened)


def check_output(out: Output, plan: Plan, archive: Archive, fates: list[Fate] | None = None) -> Report | None:
    """Check a planned GGUF output (``output.build(plan, archive, "gguf")``)
    before it is written: its tensors against the key/values the plan
    gives it. None for other formats (no keys a runtime reads)."""
    from . import filemeta
    from .formats import registry

    if not registry.get(out.format).expected_keys:
        return None

    if fates is None:
        fates = plan.fates(archive)
    meta, _ = filemeta.edit(filemeta.read(filemeta.origin(archive, fates)), plan.file_ops)
    return check_gguf(((t.name, t.shape) for t in out.targets), meta.values)

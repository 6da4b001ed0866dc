"""Quantization-aware verdicts on tensors paired across schemes: ``irpa diff --map``.

``mapped_diff(a, b, mapping)`` pairs the tensors (``name_map``), applies the
converter's known transform to the Hugging Face side (``transforms.KNOWN``),
and streams both sides in lockstep, a bounded run of rows at a time (whole
heads where rows are permuted), decoding blocks with the engine's decoders
(``stats``): never a whole tensor. Per pair: ``max_abs``, ``rmse``,
``rel_rmse`` (rmse / rms of A, the reference), ``cosine``, ``snr_db``, the
worst element (its index in A and in B, both values), and a verdict:

- ``identical``: same dtype, same bytes;
- ``lossless``: every value equal (a cast that loses nothing);
- ``requantized-exact``: quantizing A's values as B's type (``gguf.quants``,
  for the types it can quantize) gives B's bytes;
- ``within-noise``: the error is within ``envelope``'s expectation for the
  two types, computed on A's own blocks;
- ``transform``: a recognised conversion bug (``transforms.Bug``: offset,
  scale, zero-filled region, rows permuted, transposed, truncated);
- ``differs``: none of these.

``MappedReport.ok``: every pair is one of the first four (``strict``: and
nothing is left unpaired); ``by_layer()`` sums the error per block and
tensor role.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from . import envelope, transforms
from .blocks import block_of
from .display import or_undefined
from .dtypes import DType
from .errors import Cancelled
from .locate import decode_dtypes, json_value, row_major
from .model import Archive, Entry, read_bytes
from .name_map import Architecture, NamePair, Pairing, pair_names

IDENTICAL = "identical"
LOSSLESS = "lossless"
REQUANTIZED = "requantized-exact"
WITHIN_NOISE = "within-noise"
DIFFERS = "differs"
TRANSFORM = "transform"
VERDICTS = (IDENTICAL, LOSSLESS, REQUANTIZED, WITHIN_NOISE, TRANSFORM, DIFFERS)
OK_VERDICTS = (IDENTICAL, LOSSLESS, REQUANTIZED, WITHIN_NOISE)
CHUNK_VALUES = 1 << 20  # values per side per step: float64 temporaries stay ~tens of MB
WINDOW_ROWS = 64  # rows of B looked up in A when testing for a row permutation
HEAD_DIMS = (64, 128, 256, 32, 80, 96, 112, 16, 8, 4, 2)  # rope head sizes tried when none is stated


@dataclass(frozen=True, slots=True, kw_only=True)
class Worst:
    """The element where |A-B| is largest: flat and row-major indices in
    each tensor (they differ under a permutation), and both values."""

    flat_a: int
    flat_b: int
    index_a: tuple[int, ...] | None
    index_b: tuple[int, ...] | None
    a: float
    b: float

    def to_json(self) -> dict:
        return {
            "flat_a": self.flat_a,
            "flat_b": self.flat_b,
            "index_a": list(self.index_a) if self.index_a is not None else None,
            "index_b": list(self.index_b) if self.index_b is not None else None,
            "a": json_value(self.a),
            "b": json_value(self.b),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class PairMetrics:
    count: int
    max_abs: float
    rmse: float
    rel_rmse: float | None  # None: A is all zeros
    cosine: float | None  # None: a side is all zeros
    snr_db: float | None  # inf when equal; None: A is all zeros
    sum_sq_diff: float = 0.0  # for per-layer sums
    sum_sq_a: float = 0.0
    expected_mse: float | None = None  # the envelope (None: a type without one)
    outside: int = 0  # elements beyond the per-element bound

    def to_json(self) -> dict:
        return {
            "max_abs": json_value(self.max_abs),
            "rmse": json_value(self.rmse),
            "rel_rmse": json_value(self.rel_rmse),
            "cosine": json_value(self.cosine),
            "snr_db": json_value(self.snr_db),
            "count": self.count,
            "expected_rmse": json_value(math.sqrt(self.expected_mse)) if self.expected_mse is not None else None,
            "outside_bound": self.outside,
        }

    def text(self) -> str:
        rel = or_undefined(self.rel_rmse, ".3%")
        env = ""
        if self.expected_mse is not None and self.expected_mse > 0:
            env = f" (envelope {math.sqrt(self.expected_mse):.3g})"
        return (
            f"max|d|={self.max_abs:.4g} rmse={self.rmse:.4g}{env} rel_rmse={rel} "
            f"cos={or_undefined(self.cosine, '.6f')} snr={or_undefined(self.snr_db, '.1f')}dB"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class MappedPair:
    a: str
    b: str
    verdict: str
    dtype_a: str | None = None
    dtype_b: str | None = None
    metrics: PairMetrics | None = None
    worst: Worst | None = None
    transform: dict | None = None  # the known transform applied, or the bug recognised
    notes: tuple[str, ...] = ()
    a_parts: tuple[str, ...] = ()  # A's tensors that B holds fused (``a`` joins them)
    b_parts: tuple[str, ...] = ()  # B's tensors that A holds fused (``b`` joins them)

    @property
    def ok(self) -> bool:
        return self.verdict in OK_VERDICTS

    def to_json(self) -> dict:
        return {
            "a": self.a,
            "b": self.b,
            "verdict": self.verdict,
            "dtype_a": self.dtype_a,
            "dtype_b": self.dtype_b,
            "metrics": self.metrics.to_json() if self.metrics else None,
            "worst": self.worst.to_json() if self.worst else None,
            "transform": self.transform,
            "notes": list(self.notes),
            **({"a_parts": list(self.a_parts)} if self.a_parts else {}),
            **({"b_parts": list(self.b_parts)} if self.b_parts else {}),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class MappedReport:
    pairs: tuple[MappedPair, ...]
    only_a: tuple[tuple[str, str], ...] = ()
    only_b: tuple[tuple[str, str], ...] = ()
    architecture: Architecture = field(default_factory=Architecture)
    notes: tuple[str, ...] = ()
    strict: bool = False

    @property
    def ok(self) -> bool:
        """Every pair identical, lossless, requantized-exact or within noise
        (``strict``: and every tensor paired)."""
        return all(p.ok for p in self.pairs) and not (self.strict and (self.only_a or self.only_b))

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(VERDICTS, 0)
        for p in self.pairs:
            out[p.verdict] += 1
        return out

    def to_json(self, by_layer: bool = False) -> dict:
        doc = {
            "pairs": [p.to_json() for p in self.pairs],
            "only_a": [{"name": n, "reason": r} for n, r in self.only_a],
            "only_b": [{"name": n, "reason": r} for n, r in self.only_b],
            "ok": self.ok,
            "counts": self.counts(),
            "architecture": self.architecture.to_json(),
            "notes": list(self.notes),
        }
        if by_layer:
            doc["by_layer"] = self.by_layer()
        return doc

    def by_layer(self) -> dict:
        """Where the error (or a finetune's change) concentrates: rel_rmse
        per block and tensor role (``sqrt(sum (A-B)^2 / sum A^2)`` over the
        tensors of a cell), and per block over all its tensors."""
        cells: dict[int, dict[str, list[float]]] = {}
        roles: list[str] = []
        for p in self.pairs:
            if p.metrics is None:
                continue
            # B's name, else A's; never a side that joins parts (the fused one names the cell).
            name = p.a if p.b_parts else p.b if block_of(p.b) else p.a
            where = block_of(name)
            if where is None:
                continue
            prefix, n = where
            role = name[len(prefix) + len(str(n)) + 1 :]
            if role not in roles:
                roles.append(role)
            cell = cells.setdefault(n, {}).setdefault(role, [0.0, 0.0])
            cell[0] += p.metrics.sum_sq_diff
            cell[1] += p.metrics.sum_sq_a

        def rel(dd: float, aa: float) -> float | None:
            return math.sqrt(dd / aa) if aa > 0 else (0.0 if dd == 0 else None)

        blocks = []
        for n in sorted(cells):
            row = cells[n]
            dd, aa = sum(c[0] for c in row.values()), sum(c[1] for c in row.values())
            blocks.append(
                {
                    "block": n,
                    "rel_rmse": json_value(rel(dd, aa)),
                    "roles": {r: json_value(rel(*row[r])) for r in roles if r in row},
                }
            )
        return {"metric": "rel_rmse", "roles": roles, "blocks": blocks}


# ---------------------------------------------------------------------------
# Reading values a run of rows at a time


def _raw(entry: Entry, d: DType, e0: int, e1: int) -> bytes:
    """The bytes of the blocks covering values ``[e0, e1)``."""
    bs, ts = d.block_size, d.type_size
    b0, b1 = e0 // bs, -(-e1 // bs)
    return read_bytes(entry, b0 * ts, (b1 - b0) * ts)


def _values(entry: Entry, d: DType, raw: bytes, e0: int, e1: int, dtype=np.float64) -> np.ndarray:
    """Values ``[e0, e1)`` from ``_raw``'s bytes (float64 unless told)."""
    from .stats.decoding import decoder

    first = e0 - e0 // d.block_size * d.block_size
    return decoder(entry, d)(raw).astype(dtype, copy=False)[first : first + e1 - e0]


def _read(entry: Entry, d: DType, e0: int, e1: int) -> tuple[np.ndarray, bytes | None]:
    """Values ``[e0, e1)`` as float64 (from the blocks covering them) and,
    when the range is whole blocks, its bytes."""
    raw = _raw(entry, d, e0, e1)
    aligned = e0 % d.block_size == 0 and e1 % d.block_size == 0
    return _values(entry, d, raw, e0, e1), raw if aligned else None


def _envelope(da: DType, db: DType, x: np.ndarray, offset: float = 0.0) -> tuple[float, int, np.ndarray] | None:
    """For A's values ``x`` (in B's layout): the expected sum of squared
    errors, and the per-element bound as ``(g, bound)``, one bound per
    group of ``g`` values (one group when both types are exact); None when
    a type has no envelope."""
    sa, sb = envelope.steps(da.name, x), envelope.steps(db.name, x)
    if sa is None or sb is None:
        return None
    n = x.size
    parts = [(g, h) for g, h in (sa, sb) if h is not None]
    if offset:  # the converter's add rounds too, at least to f32
        parts.append((1, envelope.rounding(da.name, x)))
    if not parts:
        return 0.0, max(n, 1), np.zeros(1)
    expected = sum(float(h @ h) * g for g, h in parts) / 12
    g = min(g for g, _ in parts)
    if any(pg % g or n % pg for pg, _ in parts):
        g = 1  # groups that do not nest within this run: per element
    bound = np.zeros(-(-n // g))
    for pg, h in parts:
        bound += h if pg == g else np.repeat(h, pg // g) if g > 1 else envelope.per_element(pg, h, n)
    return expected, g, envelope.ELEMENT_FACTOR * bound


def _matrix(shape: tuple[int, ...] | None, count: int) -> tuple[int, int]:
    """(rows, columns) a tensor is streamed as: the last dimension is the
    columns of a 2-D or higher tensor; a vector is one value per row."""
    if shape and len(shape) >= 2 and shape[-1] and count % shape[-1] == 0:
        return count // shape[-1], shape[-1]
    return count, 1


def _quantizer(d: DType):
    """The gguf quantization type when ``gguf.quants`` can quantize ``d``."""
    if d.kind != "quant":
        return None  # casts are lossless or within noise, not "requantized"
    import gguf
    from gguf import quants

    qt = d.gguf_quant_type()
    if qt is None:
        return None
    try:
        bs = gguf.GGML_QUANT_SIZES[qt][0]
        quants.quantize(np.zeros((1, bs), np.float32), qt)
    except (NotImplementedError, quants.QuantError, KeyError):
        return None
    return qt


@dataclass(slots=True)
class _Acc:
    n: int = 0
    sdd: float = 0.0
    max_abs: float = 0.0
    worst_b: int | None = None
    worst_a: int | None = None
    worst_vals: tuple[float, float] = (0.0, 0.0)
    expected: float = 0.0
    outside: int = 0
    same_bytes: bool = True
    requant: bool = True
    envelope_known: bool = True
    sums: transforms.Sums = field(default_factory=transforms.Sums)


def _stream(
    ea: Entry,
    da: DType,
    eb: Entry,
    db: DType,
    rows: int,
    cols: int,
    *,
    src: np.ndarray | None = None,
    group: int = 1,
    offset: float = 0.0,
    quantizer=None,
    b_row0: int = 0,
    a_row0: int = 0,
    cancel=None,
) -> _Acc:
    """Compare A (rows reordered by ``src``: B's row r is A's row src[r],
    ``src`` keeping each run of ``group`` rows within itself; ``offset``
    added) with B, a bounded run of rows at a time."""
    acc = _Acc()
    acc.same_bytes = da is db and src is None and not offset
    acc.requant = quantizer is not None
    step = max(group, (CHUNK_VALUES // max(cols, 1)) // group * group)
    for r0 in range(0, rows, step):
        if cancel is not None and cancel.is_set():
            raise Cancelled("diff")
        r1 = min(rows, r0 + step)
        e0, e1 = r0 * cols, r1 * cols
        f0, f1 = e0 + b_row0 * cols, e1 + b_row0 * cols  # B's elements: A's rows from B's row b_row0 on
        g0, g1 = e0 + a_row0 * cols, e1 + a_row0 * cols  # A's elements
        yraw, xraw = _raw(eb, db, f0, f1), _raw(ea, da, g0, g1)
        if acc.same_bytes:
            if xraw == yraw:  # the same bytes: A's values only, for the sums
                acc.sums.add_same(_values(ea, da, xraw, g0, g1, np.float32))
                acc.n += e1 - e0
                continue
            acc.same_bytes = False
        y, x = _values(eb, db, yraw, f0, f1), _values(ea, da, xraw, g0, g1)
        local = None
        if src is not None:
            local = src[r0:r1]
            x = x.reshape(r1 - r0, cols)[local - r0].reshape(-1)
        if offset:
            # The converter adds in the checkpoint's own precision.
            npd = da.numpy_dtype() if da.kind == "float" else None
            x = (x + offset).astype(npd).astype(np.float64) if npd is not None else x + offset
        with np.errstate(all="ignore"):
            d = y - x
            ad = np.abs(d)
            dd = float(d @ d)
            if not math.isfinite(dd):  # NaN or Inf somewhere: the masks only then
                both_nan = np.isnan(x) & np.isnan(y)
                ad[both_nan] = 0.0
                d[both_nan] = 0.0
                ad[np.isnan(ad)] = np.inf  # a NaN on one side only is the worst there is
                dd = float(d @ d)
                x, y = np.nan_to_num(x), np.nan_to_num(y)
            acc.sdd += dd if math.isfinite(dd) or not math.isinf(float(ad.max())) else math.inf
            j = int(np.argmax(ad))
            if ad[j] > acc.max_abs or acc.worst_b is None:
                acc.max_abs, acc.worst_b = float(ad[j]), f0 + j
                r, c = divmod(j, cols)
                acc.worst_a = ((int(local[r]) if local is not None else r0 + r) + a_row0) * cols + c
                acc.worst_vals = (float(x[j]), float(y[j]))
            env = _envelope(da, db, x, offset)
            if env is None:
                acc.envelope_known = False
                g, bound = max(x.size, 1), np.zeros(1)
            else:
                expected, g, bound = env
                acc.expected += expected
            # Elements beyond the bound; a zeroed region is among them (B's
            # zeros where A is beyond the noise), so only they are looked at.
            out = None
            if g == 1:
                out = np.flatnonzero(ad > bound)
            elif ad.size:
                groups = ad.reshape(-1, g)
                over = np.flatnonzero(groups.max(axis=1) > bound)
                if over.size:
                    out = (over[:, None] * g + np.arange(g))[groups[over] > bound[over, None]]
            if out is not None and out.size:
                acc.outside += int(out.size)
                acc.sums.zeroed_at(x, out[y[out] == 0], f0)
            acc.sums.add(x, y)
        if acc.requant:
            if f0 % db.block_size or f1 % db.block_size:
                acc.requant = False
            else:
                from gguf import quants

                q = quants.quantize(x.astype(np.float32).reshape(1, -1), quantizer)
                acc.requant = q.tobytes() == yraw
        acc.n += x.size
    return acc


def _metrics(acc: _Acc) -> PairMetrics:
    s = acc.sums
    n = acc.n
    return PairMetrics(
        count=n,
        max_abs=acc.max_abs,
        rmse=math.sqrt(acc.sdd / n) if n else 0.0,
        rel_rmse=math.sqrt(acc.sdd / s.saa) if s.saa > 0 else None,
        cosine=s.sab / math.sqrt(s.saa * s.sbb) if s.saa > 0 and s.sbb > 0 else None,
        snr_db=(10 * math.log10(s.saa / acc.sdd) if acc.sdd > 0 else math.inf) if s.saa > 0 else None,
        sum_sq_diff=acc.sdd,
        sum_sq_a=s.saa,
        expected_mse=acc.expected / n if acc.envelope_known and n else None,
        outside=acc.outside,
    )


def _within(acc: _Acc) -> bool:
    if not acc.envelope_known or acc.outside:
        return False
    return acc.sdd <= envelope.MSE_FACTOR * acc.expected


def _worst(acc: _Acc, shape_a, shape_b) -> Worst | None:
    if acc.worst_b is None or acc.worst_a is None:
        return None
    return Worst(
        flat_a=acc.worst_a,
        flat_b=acc.worst_b,
        index_a=row_major(acc.worst_a, tuple(shape_a)) if shape_a else None,
        index_b=row_major(acc.worst_b, tuple(shape_b)) if shape_b else None,
        a=acc.worst_vals[0],
        b=acc.worst_vals[1],
    )


# ---------------------------------------------------------------------------
# One pair


def _known(pair: NamePair, arch: Architecture, rows: int, notes: list[str]):
    """The converter's transform of this pair, as ``_stream`` takes it:
    (src, group, offset, what was applied as JSON)."""
    src, offset, applied, group = None, 0.0, None, 1
    rule = transforms.known(arch.name, pair.a if pair.hf_side == "a" else pair.b) if pair.hf_side else None
    if rule is not None and rule.kind == transforms.ROPE:
        heads = getattr(arch, rule.heads) or (arch.head_count if rule.heads == "head_count_kv" else None)
        if heads and rows % heads == 0 and (rows // heads) % 2 == 0:
            group = rows // heads
            perm = transforms.rope_rows(rows, group)
            src = perm if pair.hf_side == "a" else np.argsort(perm)
            applied = {"kind": rule.kind, "known": True, "head_dim": group, "source": rule.source}
        else:
            notes.append(f"{rule.kind} not applied: no head count for {rows} rows")
    elif rule is not None and rule.kind == transforms.NORM_OFFSET:
        offset = rule.offset if pair.hf_side == "a" else -rule.offset
        applied = {"kind": rule.kind, "known": True, "value": rule.offset, "source": rule.source}
    return src, group, offset, applied


def _fused(pair: NamePair, a: Archive, b: Archive, arch: Architecture, cancel=None) -> MappedPair:
    """Separate projections on one side (Q, K, V: ``pair.parts`` in A or
    ``pair.b_parts`` in B) against the fused one on the other: each part
    against its run of the fused tensor's rows, in order, with the
    converter's transform of that part; the figures over the whole fused
    tensor (a worst element's index on the parts' side is within its part)."""
    from . import stats as S

    in_a = bool(pair.parts)
    names = pair.parts if in_a else pair.b_parts
    parts = [(a if in_a else b).by_name[n] for n in names]
    whole = b.by_name[pair.b] if in_a else a.by_name[pair.a]
    base = MappedPair(a=pair.a, b=pair.b, verdict=DIFFERS, a_parts=pair.parts, b_parts=pair.b_parts)
    dw = whole.dtype
    if dw is None or not S.can_decode(whole, dw):
        side = "B" if in_a else "A"
        return _with(base, notes=(f"{side}'s dtype cannot be decoded: no values to compare",))
    nw = S.element_count(whole, dw)
    rows_w, cols = _matrix(tuple(whole.shape or (nw,)), nw)
    row = 0
    notes: list[str] = []
    total = _Acc()
    total.same_bytes = False
    applied = []
    dtype_parts = None
    for name, ep in zip(names, parts):
        dp = decode_dtypes(ep, whole)[0]
        if dp is None or not S.can_decode(ep, dp):
            return _with(base, notes=(f"'{name}': its dtype cannot be decoded",))
        dtype_parts = dtype_parts or dp.name
        n_p = S.element_count(ep, dp)
        rp, cp = _matrix(tuple(ep.shape or (n_p,)), n_p)
        if cp != cols or row + rp > rows_w:
            return _with(base, notes=(f"'{name}' ({rp} x {cp}) does not fit in {rows_w} x {cols} from row {row}",))
        one = NamePair(a=name, b=pair.b, hf_side="a") if in_a else NamePair(a=pair.a, b=name, hf_side="b")
        src, group, offset, known = _known(one, arch, rp, notes)
        if known:
            applied.append({"part": name, **known})
        if in_a:  # A's part against B's rows from ``row``
            ea, da, eb, db, rows0 = ep, dp, whole, dw, {"b_row0": row}
        else:  # A's rows from ``row`` against B's part
            ea, da, eb, db, rows0 = whole, dw, ep, dp, {"a_row0": row}
        acc = _stream(
            ea, da, eb, db, rp, cols, src=src, group=group, offset=offset, quantizer=_quantizer(db), cancel=cancel,
            **rows0,
        )  # fmt: skip
        total = _merge(total, acc, base_row=row, cols=cols)
        row += rp
    if row != rows_w:
        return _with(base, notes=(f"the parts hold {row} of the fused tensor's {rows_w} rows",))
    m = _metrics(total)
    worst = _worst(total, None, whole.shape) if in_a else _worst(total, whole.shape, None)
    fused = {"kind": "fused", "known": True, "parts": list(names), "applied": applied}
    result = _with(
        base,
        dtype_a=dtype_parts if in_a else dw.name,
        dtype_b=dw.name if in_a else dtype_parts,
        metrics=m,
        worst=worst,
        transform=fused,
        notes=tuple(notes),
    )
    if total.max_abs == 0:
        return _with(result, verdict=LOSSLESS)
    if total.requant and not math.isinf(total.max_abs):
        return _with(result, verdict=REQUANTIZED)
    if _within(total) and not math.isinf(total.max_abs):
        return _with(result, verdict=WITHIN_NOISE)
    return result


def _merge(t: _Acc, a: _Acc, *, base_row: int, cols: int) -> _Acc:
    """Figures of two runs of B: sums added, the worst of both kept
    (A's flat index stays the part's own)."""
    t.n += a.n
    t.sdd += a.sdd
    if a.worst_b is not None and (t.worst_b is None or a.max_abs > t.max_abs):
        t.max_abs, t.worst_b, t.worst_a, t.worst_vals = a.max_abs, a.worst_b, a.worst_a, a.worst_vals
    t.expected += a.expected
    t.outside += a.outside
    t.requant = t.requant and a.requant
    t.same_bytes = t.same_bytes and a.same_bytes
    t.envelope_known = t.envelope_known and a.envelope_known
    if a.sums.zero_first is not None:
        if t.sums.zero_first is None:
            t.sums.zero_first = a.sums.zero_first
        t.sums.zero_last = a.sums.zero_last
    for f in ("n", "sa", "sb", "saa", "sbb", "sab", "zeroed", "zeroed_sdd"):
        setattr(t.sums, f, getattr(t.sums, f) + getattr(a.sums, f))
    return t


def compare(
    ea: Entry,
    eb: Entry,
    pair: NamePair | None = None,
    arch: Architecture | None = None,
    cancel=None,
    acc: _Acc | None = None,
) -> MappedPair:
    """The verdict on one pair (A the reference, B the other). ``acc``: the
    streamed figures when workers made them (``_plan``'s plain pairs)."""
    from . import stats as S

    pair = pair or NamePair(a=ea.name, b=eb.name)
    arch = arch or Architecture()
    da, db = decode_dtypes(ea, eb)
    base = MappedPair(
        a=pair.a, b=pair.b, verdict=DIFFERS, dtype_a=da.name if da else None, dtype_b=db.name if db else None
    )
    if not (da and db and S.can_decode(ea, da) and S.can_decode(eb, db)):
        which = "A" if not (da and S.can_decode(ea, da)) else "B"
        return _with(base, notes=(f"{which}'s dtype cannot be decoded: no values to compare",))
    na, nb = S.element_count(ea, da), S.element_count(eb, db)
    shape_a, shape_b = ea.shape or (na,), eb.shape or (nb,)
    notes: list[str] = []
    if tuple(shape_a) != tuple(shape_b) and na == nb:
        if len(shape_a) == 2 and tuple(shape_b) == tuple(reversed(shape_a)):
            return _transposed(base, ea, da, eb, db, shape_a, shape_b, cancel)
        notes.append(f"shape {list(shape_a)} -> {list(shape_b)} (compared row-major)")
    if na != nb:
        return _truncated(base, ea, da, eb, db, shape_a, shape_b, cancel)
    rows, cols = _matrix(tuple(shape_b), nb)
    src, group, offset, applied = _known(pair, arch, rows, notes)
    quantizer = _quantizer(db)
    if acc is None:
        acc = _stream(
            ea, da, eb, db, rows, cols, src=src, group=group, offset=offset, quantizer=quantizer, cancel=cancel
        )
    m, worst = _metrics(acc), _worst(acc, shape_a, shape_b)
    result = _with(base, metrics=m, worst=worst, transform=applied, notes=tuple(notes))
    nan_mismatch = math.isinf(acc.max_abs)
    if acc.same_bytes and tuple(shape_a) == tuple(shape_b):
        return _with(result, verdict=IDENTICAL)
    if acc.max_abs == 0:
        return _with(result, verdict=LOSSLESS)
    if acc.requant and not nan_mismatch:
        return _with(result, verdict=REQUANTIZED)
    if _within(acc) and not nan_mismatch:
        return _with(result, verdict=WITHIN_NOISE)
    allowed = envelope.MSE_FACTOR * acc.expected if acc.envelope_known else 0.0
    found = transforms.recognise(acc.sums, acc.sdd, allowed)
    if found is not None:
        kind, text, detail = found
        if kind == "zero-filled" and shape_b:
            detail = {
                **detail,
                "first_index": list(row_major(detail["first"], tuple(shape_b))),
                "last_index": list(row_major(detail["last"], tuple(shape_b))),
            }
        return _with(result, verdict=TRANSFORM, transform=transforms.Bug(kind=kind, text=text, detail=detail).to_json())
    if m.cosine is not None and m.cosine < 0.9 and cols >= 2 and rows >= 2 and src is None:
        bug = _permuted(ea, da, eb, db, rows, cols, arch, offset, cancel)
        if bug is not None:
            return _with(result, verdict=TRANSFORM, transform=bug.to_json())
    if src is not None and m.cosine is not None and m.cosine < 0.9:
        # The converter's permutation expected but absent: B holds A's rows as they were.
        plain = _stream(ea, da, eb, db, rows, cols, cancel=cancel)
        if plain.max_abs == 0 or _within(plain):
            bug = transforms.Bug(
                kind="rows-permuted",
                text=f"rows not permuted: the converter's rope permutation (head size {group}) is missing",
                detail={"style": "rope-missing", "head_dim": group},
            )
            return _with(result, verdict=TRANSFORM, transform=bug.to_json())
    return result


def _with(p: MappedPair, **kw) -> MappedPair:
    from dataclasses import replace

    return replace(p, **kw)


def _permuted(ea, da, eb, db, rows, cols, arch, offset, cancel) -> transforms.Bug | None:
    """Rows of B found among A's rows (a window of B's first rows looked up
    in one pass over A): rope-style with a head size, confirmed over the
    whole tensor, or another order (shown for the window)."""
    w = min(rows, WINDOW_ROWS)
    yw, _ = _read(eb, db, 0, w * cols)
    yw = yw.reshape(w, cols)
    yy = (yw * yw).sum(axis=1)
    best = np.full(w, np.inf)
    where = np.zeros(w, np.int64)
    step = max(1, CHUNK_VALUES // cols)
    for r0 in range(0, rows, step):
        if cancel is not None and cancel.is_set():
            raise Cancelled("diff")
        r1 = min(rows, r0 + step)
        x, _ = _read(ea, da, r0 * cols, r1 * cols)
        x = x.reshape(r1 - r0, cols) + offset
        with np.errstate(all="ignore"):
            dist = yy[:, None] + (x * x).sum(axis=1)[None, :] - 2 * (yw @ x.T)
        j = np.argmin(dist, axis=1)
        dj = dist[np.arange(w), j]
        better = dj < best
        best[better], where[better] = dj[better], r0 + j[better]
    flat = yw.reshape(-1)
    sa, sb = envelope.steps(da.name, flat), envelope.steps(db.name, flat)
    if sa is None or sb is None:
        return None
    sq = np.zeros(flat.size)
    for g, h in (sa, sb):
        if h is not None:
            sq += envelope.per_element(g, h * h, flat.size)
    allowed = envelope.MSE_FACTOR * (sq / 12).reshape(w, cols).sum(axis=1) + 1e-9 * yy
    if not np.all(best <= allowed) or np.array_equal(where, np.arange(w)):
        return None
    candidates = [h for h in HEAD_DIMS if rows % h == 0]
    for heads in (arch.head_count, arch.head_count_kv):
        if heads and rows % heads == 0:
            candidates.insert(0, rows // heads)
    for hd in dict.fromkeys(candidates):
        if hd % 2:
            continue
        for src, style in (
            (transforms.rope_rows(rows, hd), "rope"),
            (transforms.unrope_rows(rows, hd), "rope-inverse"),
        ):
            if np.array_equal(src[:w], where):
                acc = _stream(ea, da, eb, db, rows, cols, src=src, group=hd, offset=offset, cancel=cancel)
                if _within(acc) or acc.max_abs == 0:
                    what = "llama.cpp's rope permutation" if style == "rope" else "its inverse"
                    return transforms.Bug(
                        kind="rows-permuted",
                        text=f"rows permuted rope-style ({what}, head size {hd})",
                        detail={"style": style, "head_dim": hd},
                    )
    shown = {int(i): int(j) for i, j in enumerate(where) if i != j}
    first = ", ".join(f"B row {i} = A row {j}" for i, j in list(shown.items())[:4])
    return transforms.Bug(
        kind="rows-permuted",
        text=f"rows permuted (in B's first {w} rows: {first})",
        detail={"style": "other", "rows_checked": w, "b_row_to_a_row": shown},
    )


def _transposed(base, ea, da, eb, db, shape_a, shape_b, cancel) -> MappedPair:
    """B's shape is A's reversed: compare A with B transposed, a run of A's
    rows against the same columns of B at a time."""
    from .stats.decoding import preview

    m, n = shape_a
    step = max(1, min(m, CHUNK_VALUES // max(n, 1)))
    sdd = saa = sbb = sab = 0.0
    max_abs, worst = 0.0, (0, 0, 0.0, 0.0)
    expected, known = 0.0, True
    for r0 in range(0, m, step):
        if cancel is not None and cancel.is_set():
            raise Cancelled("diff")
        r1 = min(m, r0 + step)
        x, _ = _read(ea, da, r0 * n, r1 * n)
        y = preview(eb, n, r1 - r0, 0, r0).T.reshape(-1)
        with np.errstate(all="ignore"):
            d = y - x
            sdd += float(d @ d)
            saa += float(x @ x)
            sbb += float(y @ y)
            sab += float(x @ y)
            j = int(np.argmax(np.abs(d)))
            if abs(d[j]) > max_abs:
                max_abs, worst = float(abs(d[j])), (r0 * n + j, 0, float(x[j]), float(y[j]))
        env = _envelope(da, db, x)
        if env is None:
            known = False
        else:
            expected += env[0]
    count = m * n
    fa = worst[0]
    ia = row_major(fa, tuple(shape_a))
    fb = ia[1] * m + ia[0]
    metrics = PairMetrics(
        count=count,
        max_abs=max_abs,
        rmse=math.sqrt(sdd / count) if count else 0.0,
        rel_rmse=math.sqrt(sdd / saa) if saa > 0 else None,
        cosine=sab / math.sqrt(saa * sbb) if saa > 0 and sbb > 0 else None,
        snr_db=(10 * math.log10(saa / sdd) if sdd > 0 else math.inf) if saa > 0 else None,
        sum_sq_diff=sdd,
        sum_sq_a=saa,
        expected_mse=expected / count if known and count else None,
    )
    w = Worst(flat_a=fa, flat_b=fb, index_a=ia, index_b=(ia[1], ia[0]), a=worst[2], b=worst[3])
    if sdd == 0 or (known and sdd <= envelope.MSE_FACTOR * expected):
        bug = transforms.Bug(
            kind="transposed",
            text=f"transposed: B {list(shape_b)} is A {list(shape_a)} transposed",
            detail={"shape_a": list(shape_a), "shape_b": list(shape_b)},
        )
        return _with(base, verdict=TRANSFORM, metrics=metrics, worst=w, transform=bug.to_json())
    note = f"shape {list(shape_a)} -> {list(shape_b)}: the values differ even transposed"
    return _with(base, notes=(note,))


def _truncated(base, ea, da, eb, db, shape_a, shape_b, cancel) -> MappedPair:
    """Different element counts: when the row length agrees, compare the
    rows both hold; the shorter side holding a faithful prefix is truncated."""
    from . import stats as S

    na, nb = S.element_count(ea, da), S.element_count(eb, db)
    ra, ca = _matrix(tuple(shape_a), na)
    rb, cb = _matrix(tuple(shape_b), nb)
    if ca != cb:
        return _with(base, notes=(f"shape {list(shape_a)} -> {list(shape_b)}: different element counts",))
    rows = min(ra, rb)
    acc = _stream(ea, da, eb, db, rows, ca, cancel=cancel)
    m, worst = _metrics(acc), _worst(acc, shape_a, shape_b)
    if acc.max_abs == 0 or _within(acc):
        short = "B" if rb < ra else "A"
        bug = transforms.Bug(
            kind="truncated",
            text=f"truncated: {short} holds the first {rows:,} of {max(ra, rb):,} rows",
            detail={"rows_a": ra, "rows_b": rb, "short": short},
        )
        return _with(base, verdict=TRANSFORM, metrics=m, worst=worst, transform=bug.to_json())
    note = f"shape {list(shape_a)} -> {list(shape_b)}: the first {rows:,} rows compared"
    return _with(base, metrics=m, worst=worst, notes=(note,))


# ---------------------------------------------------------------------------
# Two archives


PARALLEL_BYTES = 64 << 20  # below this, worker processes cost more than they save
TASK_BYTES = 16 << 20  # a bigger plain pair goes to the workers as runs of rows of about this much of B

# What forked workers inherit: the archives and the pairing (set just before
# the pool starts; local files are read with pread, which shares no offset).
_SHARED: tuple[Archive, Archive, tuple[NamePair, ...], Architecture] | None = None


def _compare_at(i: int) -> MappedPair:
    assert _SHARED is not None
    a, b, pairs, arch = _SHARED
    return _one(a, b, pairs[i], arch)


def _stream_at(task: tuple[int, int, int]) -> _Acc:
    """Rows ``[r0, r1)`` of a plain pair (same layout, no transform)."""
    assert _SHARED is not None
    a, b, pairs, _ = _SHARED
    i, r0, r1 = task
    ea, eb = a.by_name[pairs[i].a], b.by_name[pairs[i].b]
    da, db = decode_dtypes(ea, eb)
    assert da is not None and db is not None
    cols = _matrix(tuple(eb.shape or ()), _count(eb, db))[1]
    return _stream(ea, da, eb, db, r1 - r0, cols, quantizer=_quantizer(db), a_row0=r0, b_row0=r0)


def _count(e: Entry, d: DType) -> int:
    from . import stats as S

    return S.element_count(e, d)


def _split(a: Archive, b: Archive, p: NamePair, arch: Architecture, size: int) -> list[tuple[int, int]] | None:
    """Row ranges of about ``size`` bytes of B for a pair compared plainly
    (same shape and element count, no transform), or None."""
    from . import stats as S

    if p.parts or p.b_parts:
        return None
    ea, eb = a.by_name[p.a], b.by_name[p.b]
    da, db = decode_dtypes(ea, eb)
    if not (da and db and S.can_decode(ea, da) and S.can_decode(eb, db)) or eb.length <= size:
        return None
    n = _count(eb, db)
    if _count(ea, da) != n or tuple(ea.shape or (n,)) != tuple(eb.shape or (n,)):
        return None
    rows, cols = _matrix(tuple(eb.shape or (n,)), n)
    if _known(p, arch, rows, [])[3] is not None:
        return None
    # Whole B blocks per range, so that the requantization check still applies.
    unit = db.block_size // math.gcd(db.block_size, cols) if cols else 1
    per = max(unit, (size * rows // eb.length) // unit * unit)
    return [(r, min(rows, r + per)) for r in range(0, rows, per)]


def _one(a: Archive, b: Archive, p: NamePair, arch: Architecture, cancel=None) -> MappedPair:
    if p.parts or p.b_parts:
        return _fused(p, a, b, arch, cancel)
    return compare(a.by_name[p.a], b.by_name[p.b], p, arch, cancel)


def side_names(p: NamePair) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A's and B's tensors in a pair (a side's parts when it holds them separately)."""
    return p.parts or (p.a,), p.b_parts or (p.b,)


def pair_bytes(a: Archive, b: Archive, p: NamePair) -> int:
    """Bytes a pair's comparison reads, both sides."""
    return sum(a.by_name[n].length for n in side_names(p)[0]) + _b_length(b, p)


def _b_length(b: Archive, p: NamePair) -> int:
    return sum(b.by_name[n].length for n in side_names(p)[1])


def _local(archive: Archive) -> bool:
    return all("://" not in f.path for f in archive.files)


def mapped_diff(
    a: Archive,
    b: Archive,
    mapping: str | Pairing = "auto",
    *,
    strict: bool = False,
    workers: int = 1,
    cancel=None,
    progress=None,
) -> MappedReport:
    """Pair ``a``'s tensors with ``b``'s (``mapping``: ``"auto"``,
    ``"identity"``, a JSON name table's path, or a ``Pairing`` made
    already by ``name_map.pair_names``) and give each pair its verdict.
    ``progress(i, total, name)`` is called before each pair (in order, in
    this process). ``workers`` > 1: pairs are compared in that
    many forked processes, the largest first, for local files of more than
    ``PARALLEL_BYTES`` (each pair as one process would compare it).

    BLAS runs on one thread meanwhile, in this process and in the workers
    (``stats.blas``): its dot products of a run of rows would otherwise
    take a second thread that then spins, taking a core from the others;
    and freed memory is kept for the next run (``stats.allocator``)."""
    from .stats import allocator, blas

    allocator.keep_freed_memory()  # runs of rows allocate and free the same sizes again and again
    with blas.one_thread():
        return _mapped_diff(a, b, mapping, strict=strict, workers=workers, cancel=cancel, progress=progress)


def _mapped_diff(
    a: Archive, b: Archive, mapping: str | Pairing, *, strict: bool, workers: int, cancel, progress
) -> MappedReport:
    from .stats import blas, decoding

    global _SHARED
    pairing = mapping if isinstance(mapping, Pairing) else pair_names(a, b, mapping)
    pairs = pairing.pairs
    out: list[MappedPair | None] = [None] * len(pairs)
    size = sum(2 * _b_length(b, p) for p in pairs)
    # The compiled kernels when the blocks to decode are many, loaded
    # before workers fork: they share them.
    quantized = ((e, e.dtype) for e in (*a.entries, *b.entries) if e.dtype and e.dtype.kind == "quant")
    decoding.compiled_for(quantized, decode_only=True)
    if workers > 1 and len(pairs) > 1 and size > PARALLEL_BYTES and _local(a) and _local(b) and cancel is None:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        # Big plain pairs go as runs of rows (one tensor can be most of a
        # file: an embedding), the others whole, the largest first.
        split = {i: r for i, p in enumerate(pairs) for r in [_split(a, b, p, pairing.architecture, TASK_BYTES)] if r}
        order = sorted((i for i in range(len(pairs)) if i not in split), key=lambda i: -_b_length(b, pairs[i]))
        tasks = [(i, r0, r1) for i, runs in split.items() for r0, r1 in runs]
        _SHARED = (a, b, pairs, pairing.architecture)
        try:
            ctx = mp.get_context("fork")
            with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=blas.pin_one_thread) as pool:
                parts = pool.map(_stream_at, tasks)
                whole = pool.map(_compare_at, order)
                accs: dict[int, _Acc] = {}
                for (i, r0, _), acc in zip(tasks, parts):
                    accs[i] = acc if i not in accs else _merge(accs[i], acc, base_row=r0, cols=0)
                for i, acc in accs.items():
                    p = pairs[i]
                    out[i] = compare(a.by_name[p.a], b.by_name[p.b], p, pairing.architecture, acc=acc)
                for i, result in zip(order, whole):
                    out[i] = result
        finally:
            _SHARED = None
        if progress:
            progress(len(pairs), len(pairs), "")
    else:
        for i, p in enumerate(pairs):
            if progress:
                progress(i, len(pairs), p.b)
            out[i] = _one(a, b, p, pairing.architecture, cancel)
    return MappedReport(
        pairs=tuple(r for r in out if r is not None),
        only_a=pairing.only_a,
        only_b=pairing.only_b,
        architecture=pairing.architecture,
        notes=pairing.notes,
        strict=strict,
    )

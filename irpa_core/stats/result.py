"""``Stats``: the statistics of one tensor, as every front end shows them (no numpy here)."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Stats:
    """``percentiles_exact``: every percentile is the true value of its rank
    (else within ``percentile_error``, relative). ``integer``: the histogram
    bins are whole integers, ``hist_edges[k] <= v < hist_edges[k + 1]``."""

    count: int
    min: float
    max: float
    mean: float
    std: float
    zeros: int
    nans: int
    infs: int
    percentiles: dict[str, float]
    percentile_error: float
    hist_edges: list[float]
    hist_counts: list[int]
    exact: bool
    dtype: str = ""
    sampled: int = 0  # values looked at (== count when exact)
    percentiles_exact: bool = False
    integer: bool = False

    @property
    def sparsity(self) -> float:
        """Percentage of zeros."""
        return 100.0 * self.zeros / self.count if self.count else 0.0

    @property
    def absmax(self) -> float:
        """Largest magnitude among the finite values (nan when none)."""
        return max(abs(self.min), abs(self.max)) if self.min == self.min else math.nan

    def to_json(self) -> dict:
        def f(x):
            return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else x

        return {
            "dtype": self.dtype,
            "count": self.count,
            "exact": self.exact,
            "min": f(self.min),
            "max": f(self.max),
            "mean": f(self.mean),
            "std": f(self.std),
            "zeros": self.zeros,
            "sparsity": self.sparsity,
            "nans": self.nans,
            "infs": self.infs,
            "percentiles": {k: f(v) for k, v in self.percentiles.items()},
            "percentiles_exact": self.percentiles_exact,
            "percentile_error": self.percentile_error,
            "histogram": {
                "edges": [f(e) for e in self.hist_edges],
                "counts": self.hist_counts,
                "integer": self.integer,
            },
        }

"""What the parameter table shows: filtered, sorted, optionally as a tree.

Plain Python over the archive's entries, no widgets: the table widget asks
for ``rows`` and renders only the visible ones. Sorting orders are computed
once per key and cached; filtering is one pass over names per keystroke
(the language is in ``filtering``). Scan results (``S``), when there are
some, add sort keys and filter flags.
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass

from irpa_core.model import Archive
from irpa_core.plan import EXCLUDE, SPLAT_OP, Fate
from irpa_core.scan import Row as ScanRow

from .filtering import Filter, FilterError, Row, parse

__all__ = ["SCAN_SORTS", "SORTS", "FilterError", "TableView", "TreeRow", "filter_glob", "natural_key"]

SCAN_SORTS = ("std", "absmax", "zeros", "nonfinite")
SORTS = ("file", "name", "size", "dtype", *SCAN_SORTS)
SORT_LABELS = {
    "file": "file order",
    "name": "name",
    "size": "size (largest first)",
    "dtype": "dtype",
    "std": "std (largest first)",
    "absmax": "abs max (largest first)",
    "zeros": "zeros % (most first)",
    "nonfinite": "NaN/Inf count (most first)",
}
_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str):
    """``layer.2`` before ``layer.10``."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in _DIGITS.split(name) if p)


def filter_glob(query: str) -> str | None:
    """A plan glob for a filter that is one plain word or glob, when the
    caller has checked it selects the same rows (the filter ignores case,
    plan globs do not)."""
    q = query.strip()
    if not q or q == "*":
        return "*"
    if " " in q or ":" in q or q.startswith(("!", "^")) or q.endswith("$") or '"' in q:
        return None
    if "]" in q and "[" not in q:
        return None
    return q if q.startswith("*") and q.endswith("*") else f"*{q}*"


@dataclass(frozen=True)
class TreeRow:
    depth: int
    label: str
    index: int | None  # entry index for leaves, None for groups
    key: str = ""  # group prefix ("blk.0")
    count: int = 0  # entries under a group
    size: int = 0  # bytes under a group
    dtypes: tuple[tuple[str, int], ...] = ()  # dtype mix of a group, most first

    @property
    def mix(self) -> str:
        return " ".join(f"{d}×{n}" for d, n in self.dtypes)


class _Group:
    __slots__ = ("children", "count", "dtypes", "key", "label", "rank", "size")

    def __init__(self, key: str, label: str):
        self.key, self.label = key, label
        self.children: list[_Group | int] = []
        self.count = self.size = 0
        self.rank = math.inf
        self.dtypes: dict[str, int] = {}


class TableView:
    def __init__(
        self,
        archive: Archive,
        fates: Callable[[], Sequence[Fate] | None] | None = None,
        casts: Callable[[], Container[int]] | None = None,
    ):
        """``fates()``: the plan's fate of every entry, None when there is
        no edit (for ``mark:`` terms and matching new names); ``casts()``:
        the entries whose cast applies (``mark:cast``)."""
        self.archive = archive
        self.names = [e.name for e in archive.entries]
        self._lower: list[str] | None = None
        self.fates = fates or (lambda: None)
        self.casts = casts or (lambda: ())
        self.sort = "file"
        self.query = ""
        self.filter: Filter = parse("")
        self._orders: dict[str, list[int]] = {"file": list(range(len(self.names)))}
        self.rows: list[int] = self._orders["file"]
        self.tree = False
        self.collapsed: set[str] = set()
        self._seen_groups: set[str] = set()  # groups shown once (new ones below the top start collapsed)
        self._tree_rows: list[TreeRow] | None = None
        self.renamed: dict[int, str] = {}  # entry index -> its new name: the filter matches either
        self.scan: dict[int, ScanRow] = {}
        self.flags: dict[int, tuple[str, ...]] = {}

    # -- filter and sort ----------------------------------------------------

    @property
    def lower_names(self) -> list[str]:
        if self._lower is None:
            self._lower = [n.lower() for n in self.names]
        return self._lower

    def set_filter(self, query: str) -> None:
        """Raises FilterError for a filter it cannot read (view unchanged)."""
        f = parse(query)
        self.query, self.filter = query, f
        self._refresh()

    def set_renamed(self, renamed: dict[int, str]) -> None:
        """New names of renamed entries, so that the filter finds a row by
        its source name or by the name it will be written under (the filter
        reads them from the plan's fates; this applies it again)."""
        self.renamed = renamed
        self._refresh()

    def refilter(self) -> None:
        """Apply the filter again (after an edit changed marks or names)."""
        if not self.filter.empty:
            self._refresh()
        else:
            self._tree_rows = None

    def set_sort(self, key: str) -> None:
        if key not in SORTS:
            raise ValueError(key)
        self.sort = key
        self._refresh()

    def set_scan(self, rows: dict[int, ScanRow], flags: dict[int, tuple[str, ...]]) -> None:
        """Scan results (entry index -> figures, flags): new sort keys."""
        self.scan, self.flags = rows, flags
        for k in SCAN_SORTS:
            self._orders.pop(k, None)
        if self.sort in SCAN_SORTS or not self.filter.empty:
            self._refresh()

    def _order(self) -> list[int]:
        if self.sort not in self._orders:
            ents = self.archive.entries
            n = len(ents)
            if self.sort == "name":
                keys = [natural_key(x) for x in self.names]
                order = sorted(range(n), key=keys.__getitem__)
            elif self.sort == "size":
                order = sorted(range(n), key=lambda i: -ents[i].length)
            elif self.sort == "dtype":
                order = sorted(range(n), key=lambda i: (ents[i].dtype_name or "~", i))
            else:
                metric = _METRICS[self.sort]
                scan = self.scan

                def key(i: int) -> tuple[int, float]:
                    r = scan.get(i)
                    v = metric(r) if r is not None else math.nan
                    return (1, 0.0) if v != v else (0, -v)  # largest first, unscanned last

                order = sorted(range(n), key=key)
            self._orders[self.sort] = order
        return self._orders[self.sort]

    def _context(self) -> Row:
        fates = self.fates()
        names = self.lower_names
        if fates is None:
            return Row(
                names,
                lambda i: None,
                False,
                self.archive.entries,
                lambda i: "kept",
                lambda i: False,
                lambda i: self.flags.get(i, ()),
            )
        marks = {EXCLUDE: "excluded", SPLAT_OP: "splat"}
        casts = self.casts()
        return Row(
            names,
            lambda i: fates[i].name.lower() if fates[i].renamed else None,
            any(f.renamed for f in fates),
            self.archive.entries,
            lambda i: marks.get(fates[i].action, "kept"),
            lambda i: fates[i].renamed,
            lambda i: self.flags.get(i, ()),
            lambda i: i in casts,
        )

    def _refresh(self) -> None:
        order = self._order()
        self.rows = order if self.filter.empty else self.filter.select(order, self._context())
        self._tree_rows = None

    @property
    def filtered(self) -> bool:
        return not self.filter.empty

    def plan_glob(self) -> str | None:
        """A plan glob selecting exactly the rows in view, when one does."""
        glob = filter_glob(self.query)
        if glob is None:
            return None
        if glob == "*":
            return glob if len(self.rows) == len(self.names) else None
        chosen = set(self.rows)
        same = all((fnmatch.fnmatchcase(n, glob)) == (i in chosen) for i, n in enumerate(self.names))
        return glob if same else None

    # -- tree ---------------------------------------------------------------

    def toggle_tree(self) -> None:
        self.tree = not self.tree
        self._tree_rows = None

    def toggle_group(self, key: str) -> None:
        self.collapsed.symmetric_difference_update({key})
        self._tree_rows = None

    def set_collapsed(self, key: str, collapsed: bool) -> None:
        if (key in self.collapsed) != collapsed:
            self.toggle_group(key)

    def tree_rows(self) -> list[TreeRow]:
        """Rows of the tree of dotted prefixes over the filtered entries.
        A prefix becomes a group when it holds two or more entries; groups
        below the top level start collapsed. Siblings follow the current
        sort (groups by their total size for the size sort, else by their
        first member in sort order)."""
        if self._tree_rows is not None:
            return self._tree_rows
        ents = self.archive.entries
        rank = {i: k for k, i in enumerate(self.rows)}
        counts: dict[str, int] = {}
        for i in self.rows:
            parts = self.names[i].split(".")
            for k in range(1, len(parts)):
                p = ".".join(parts[:k])
                counts[p] = counts.get(p, 0) + 1
        groups = {k for k, n in counts.items() if n >= 2}
        for g in groups - self._seen_groups:
            if "." in g:
                self.collapsed.add(g)
        self._seen_groups |= groups
        root = _Group("", "")
        nodes: dict[str, _Group] = {"": root}
        for i in self.rows:
            parts = self.names[i].split(".")
            parent = root
            chain = [root]
            for k in range(1, len(parts)):
                p = ".".join(parts[:k])
                if p not in groups:
                    continue
                node = nodes.get(p)
                if node is None:
                    label = p[len(parent.key) + 1 :] if parent.key else p
                    node = nodes[p] = _Group(p, label)
                    parent.children.append(node)
                parent = node
                chain.append(node)
            parent.children.append(i)
            e = ents[i]
            for grp in chain:
                grp.count += 1
                grp.size += e.length
                grp.rank = min(grp.rank, rank[i])
                d = e.dtype_name or "?"
                grp.dtypes[d] = grp.dtypes.get(d, 0) + 1
        out: list[TreeRow] = []
        self._flatten(root, 0, rank, out)
        self._tree_rows = out
        return out

    def _child_key(self, child: _Group | int, rank: dict[int, int]):
        if isinstance(child, int):
            return (rank[child],) if self.sort != "size" else (-self.archive.entries[child].length, rank[child])
        if self.sort == "size":
            return (-child.size, child.rank)
        return (child.rank,)

    def _flatten(self, node: _Group, depth: int, rank: dict[int, int], out: list[TreeRow]) -> None:
        for child in sorted(node.children, key=lambda c: self._child_key(c, rank)):
            if isinstance(child, int):
                name = self.names[child]
                label = name[len(node.key) + 1 :] if node.key else name
                out.append(TreeRow(depth, label, child))
                continue
            mix = tuple(sorted(child.dtypes.items(), key=lambda kv: (-kv[1], kv[0])))
            out.append(TreeRow(depth, child.label, None, child.key, child.count, child.size, mix))
            if child.key not in self.collapsed:
                self._flatten(child, depth + 1, rank, out)

    def parent_row(self, r: int) -> int | None:
        """The tree row of the group holding tree row ``r``."""
        rows = self.tree_rows()
        depth = rows[r].depth
        for k in range(r - 1, -1, -1):
            if rows[k].index is None and rows[k].depth < depth:
                return k
        return None


_METRICS: dict[str, Callable[[ScanRow], float]] = {
    "std": lambda r: r.std,
    "absmax": lambda r: r.absmax,
    "zeros": lambda r: r.zeros_pct,
    "nonfinite": lambda r: float(r.nonfinite),
}

"""What the parameter table shows: filtered, sorted, optionally as a tree.

Plain Python over the archive's entries, no widgets: the table widget asks
for ``rows`` and renders only the visible ones. Sorting orders are computed
once per key and cached; filtering is one pass over names per keystroke.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass

from irpa_core.model import Archive

SORTS = ("file", "name", "size", "dtype")
_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str):
    """``layer.2`` before ``layer.10``."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in _DIGITS.split(name) if p)


class FilterError(ValueError):
    pass


def compile_filter(query: str):
    """A predicate over names: substring by default, ``*``/``?``/``[`` globs,
    ``re:`` for a regular expression. Case-sensitive, like the edit plan."""
    if not query:
        return None
    if query.startswith("re:"):
        try:
            rx = re.compile(query[3:])
        except re.error as e:
            raise FilterError(f"bad regular expression: {e}") from None
        return rx.search
    if any(c in query for c in "*?["):
        rx = re.compile(fnmatch.translate(query))
        return rx.match
    return lambda name, q=query: q in name


def filter_glob(query: str) -> str | None:
    """A plan glob selecting exactly what the filter selects, when one exists."""
    if not query:
        return "*"
    if query.startswith("re:"):
        return None
    if any(c in query for c in "*?["):
        return query
    return f"*{query}*" if not any(c in query for c in "]") else None


@dataclass(frozen=True)
class TreeRow:
    depth: int
    label: str
    index: int | None  # entry index for leaves, None for groups
    key: str = ""  # group prefix ("blk.0")
    count: int = 0  # entries under a group
    size: int = 0  # bytes under a group


class TableView:
    def __init__(self, archive: Archive):
        self.archive = archive
        self.names = [e.name for e in archive.entries]
        self.sort = "file"
        self.query = ""
        self._orders: dict[str, list[int]] = {"file": list(range(len(self.names)))}
        self._pred: Callable[[str], object] | None = None
        self._substring: str | None = None
        self.rows: list[int] = self._orders["file"]
        self.tree = False
        self.collapsed: set[str] = set()
        self._seen_groups: set[str] = set()  # groups shown once (new ones below the top start collapsed)
        self._tree_rows: list[TreeRow] | None = None
        self.renamed: dict[int, str] = {}  # entry index -> its new name: the filter matches either

    # -- filter and sort ----------------------------------------------------

    def set_filter(self, query: str) -> None:
        """Raises FilterError for a bad regular expression (view unchanged)."""
        pred = compile_filter(query)
        self.query, self._pred = query, pred
        self._substring = (
            query if query and not query.startswith("re:") and not any(c in query for c in "*?[") else None
        )
        self._refresh()

    def set_renamed(self, renamed: dict[int, str]) -> None:
        """New names of renamed entries, so that the filter finds a row by
        its source name or by the name it will be written under."""
        self.renamed = renamed
        self._refresh()

    def set_sort(self, key: str) -> None:
        if key not in SORTS:
            raise ValueError(key)
        self.sort = key
        self._refresh()

    def _order(self) -> list[int]:
        if self.sort not in self._orders:
            ents = self.archive.entries
            if self.sort == "name":
                keys = [natural_key(n) for n in self.names]
                order = sorted(range(len(ents)), key=keys.__getitem__)
            elif self.sort == "size":
                order = sorted(range(len(ents)), key=lambda i: -ents[i].length)
            else:
                order = sorted(range(len(ents)), key=lambda i: (ents[i].dtype_name or "~", i))
            self._orders[self.sort] = order
        return self._orders[self.sort]

    def _refresh(self) -> None:
        order = self._order()
        renamed = self.renamed
        if self._pred is None:
            self.rows = order
        elif self._substring is not None:
            # The common case, without a function call per name.
            names, q = self.names, self._substring
            self.rows = [i for i in order if q in names[i] or (renamed and q in renamed.get(i, ""))]
        else:
            names, pred = self.names, self._pred
            self.rows = [i for i in order if pred(names[i]) or (i in renamed and pred(renamed[i]))]
        self._tree_rows = None

    @property
    def filtered(self) -> bool:
        return bool(self.query)

    # -- tree ---------------------------------------------------------------

    def toggle_tree(self) -> None:
        self.tree = not self.tree
        self._tree_rows = None

    def toggle_group(self, key: str) -> None:
        self.collapsed.symmetric_difference_update({key})
        self._tree_rows = None

    def tree_rows(self) -> list[TreeRow]:
        """Rows of the tree of dotted prefixes over the filtered entries.
        A prefix becomes a group when it holds two or more entries; groups
        below the top level start collapsed."""
        if self._tree_rows is not None:
            return self._tree_rows
        ents = self.archive.entries
        order = sorted(self.rows, key=lambda i: natural_key(self.names[i]))
        counts: dict[str, list[int]] = {}
        for i in order:
            parts = self.names[i].split(".")
            for k in range(1, len(parts)):
                c = counts.setdefault(".".join(parts[:k]), [0, 0])
                c[0] += 1
                c[1] += ents[i].length
        groups = {k for k, (n, _) in counts.items() if n >= 2}
        for g in groups - self._seen_groups:
            if "." in g:
                self.collapsed.add(g)
        self._seen_groups |= groups
        out: list[TreeRow] = []
        open_path: list[str] = []
        for i in order:
            parts = self.names[i].split(".")
            chain = [".".join(parts[:k]) for k in range(1, len(parts)) if ".".join(parts[:k]) in groups]
            # Close groups that do not contain this entry.
            while open_path and (len(open_path) > len(chain) or open_path[-1] != chain[len(open_path) - 1]):
                open_path.pop()
            hidden = False
            for depth, g in enumerate(chain):
                if depth < len(open_path):
                    if g in self.collapsed:
                        hidden = True
                        break
                    continue
                parent = chain[depth - 1] if depth else ""
                label = g[len(parent) + 1 :] if parent else g
                n, size = counts[g]
                out.append(TreeRow(depth, label, None, g, n, size))
                open_path.append(g)
                if g in self.collapsed:
                    hidden = True
                    break
            if hidden:
                continue
            parent = chain[-1] if chain else ""
            label = self.names[i][len(parent) + 1 :] if parent else self.names[i]
            out.append(TreeRow(len(chain), label, i))
        self._tree_rows = out
        return out

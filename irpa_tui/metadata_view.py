"""The metadata screen's model: file-level key/values as rows you can
expand, search and jump through, without widgets.

A ``Node`` is a file, a key (scalar or array) or, for JSON blobs, an
object. Arrays are expanded virtually: an expanded 262,144-token
vocabulary adds one span, not 262,144 objects, and its items are read from
the file on first use (``irpa_core.metadata.array_items``, one read).
``rows`` is the list of visible spans; ``row(r)`` says what is on row ``r``.

Search looks at keys, scalar values and the items of arrays (strings by
substring, numbers by equality), ignoring case, and returns every match in
document order; ``reveal`` expands what is needed and gives the row.

Values stay Python values here; the widget turns them into ``Text``.

Editing: the plan's metadata edits apply to the output's file metadata,
which comes from one place (``filemeta``: the first input file with
metadata, or an irpa's ``__SHARK_DATASET__`` entry). ``show_edits`` lays
the edited state over that root: an edited key shows its new value, an
added key is a new row at the end, a deleted key stays with its old value
so it can be seen (and set again); each such node has a ``status``.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from irpa_core import read_bytes
from irpa_core.formats import dataset_meta
from irpa_core.metadata import array_items, describe, enum_decoder, scalar_text
from irpa_core.model import Archive, Entry, SourceFile

# Archive-level JSON blobs that model-packaging tools store as entries.
KNOWN_JSON_ENTRIES = (dataset_meta.NAME, "__SHARK_INFERENCE_TENSORS__")
JSON_LIMIT = 64 << 20
FILE, KEY, ARRAY, OBJECT, NOTE = "file", "key", "array", "object", "note"
GGUF_KEYVALUES = "GGUF key/values"  # an irpa __SHARK_DATASET__ entry holding GGUF key/values


@dataclass(eq=False)
class Node:
    kind: str  # FILE, KEY, ARRAY, OBJECT, NOTE
    label: str  # key, path, or note text
    depth: int
    type_name: str = ""  # GGUF type: u32, f32, string, array[string]...
    value: Any = None  # scalar value (KEY)
    note: str | None = None  # what a value stands for (enum name, token)
    children: list[Node] = field(default_factory=list, repr=False)  # FILE, OBJECT
    count: int = 0  # ARRAY
    elem_type: str = ""  # ARRAY
    load: Callable[[], Sequence[Any]] | None = None  # ARRAY items, read on demand
    peek: Callable[[int], Sequence[Any]] | None = None  # ARRAY: the first items without reading all
    item_note: Callable[[Any], str | None] | None = None  # ARRAY: name of an item (token types)
    expanded: bool = False
    file_index: int = 0
    status: str = ""  # an edit of the plan: "edited", "added", "deleted" (editing.EDITED, ...)
    _items: Sequence[Any] | None = field(default=None, repr=False)
    _lower: list[str] | None = field(default=None, repr=False)

    @property
    def items(self) -> Sequence[Any]:
        if self._items is None:
            self._items = self.load() if self.load is not None else []
        return self._items

    def first(self, n: int) -> Sequence[Any]:
        """The first ``n`` items, without reading a big array whole."""
        if self._items is None and self.peek is not None:
            return self.peek(n)
        return self.items[:n]

    def item_lower(self, k: int) -> str:
        if self._lower is None:
            self._lower = [x.lower() if isinstance(x, str) else "" for x in self.items]
        return self._lower[k]

    @property
    def expandable(self) -> bool:
        if self.kind == ARRAY:
            return self.count > 0
        return self.kind in (FILE, OBJECT) and bool(self.children)


@dataclass(frozen=True)
class Line:
    """What one visible row shows: a node, or item ``index`` of an array."""

    node: Node
    index: int | None = None  # array item

    @property
    def depth(self) -> int:
        return self.node.depth + (1 if self.index is not None else 0)


@dataclass(frozen=True)
class Match:
    node: Node
    index: int | None  # array item, None for the key or value itself


class MetadataModel:
    def __init__(self, archive: Archive):
        self.archive = archive
        self.roots: list[Node] = []
        for fi, f in enumerate(archive.files):
            root = Node(FILE, f.path, 0, type_name=f.format, expanded=True, file_index=fi)
            types = f.metadata_types
            for key, value in f.metadata.items():
                root.children.append(_key_node(key, value, types.get(key, ""), 1, fi, f.metadata))
            if not f.metadata:
                root.children.append(Node(NOTE, "(no file metadata)", 1, file_index=fi))
            self.roots.append(root)
        self._entry_roots: list[tuple[Entry, Node]] = []
        for e in archive.entries:
            if e.name in KNOWN_JSON_ENTRIES and e.kind == "data" and e.length < JSON_LIMIT:
                node = _json_entry(e)
                self.roots.append(node)
                self._entry_roots.append((e, node))
        self._base = {id(r): list(r.children) for r in self.roots}  # children as read, before edits
        self.target: Node | None = None  # the root the edits apply to (show_edits)
        self._spans: list[tuple[int, Node, int]] = []  # (first row, node, item rows after it)
        self._starts: list[int] = []
        self.rebuild()

    # -- edits --------------------------------------------------------------

    def root_for(self, file: SourceFile | None, entry: Entry | None) -> Node | None:
        """The root showing the metadata read from ``file`` (or its
        ``__SHARK_DATASET__`` ``entry``); with neither (no input has
        metadata), the first file's, where added keys then show. None when
        that metadata is not shown as key/values here."""
        if entry is not None:
            for e, node in self._entry_roots:
                if e is entry:
                    return node if node.type_name == GGUF_KEYVALUES else None
            return None
        if file is None:
            return self.roots[0] if self.roots else None
        for fi, f in enumerate(self.archive.files):
            if f is file:
                return self.roots[fi]
        return None

    def show_edits(self, target: Node | None, values: Mapping[str, Any], types: Mapping[str, str],
                   status: Mapping[str, str]) -> None:  # fmt: skip
        """Lay the edited metadata (``values``/``types`` after the plan's
        edits, ``status`` per key) over ``target``; every other root shows
        its file as read."""
        for r in self.roots:
            r.children = list(self._base[id(r)])
            for n in r.children:
                n.status = ""
        self.target = target
        if target is not None and status:
            out: list[Node] = []
            for n in target.children:
                st = status.get(n.label) if n.kind in (KEY, ARRAY) else None
                if st == "deleted":
                    n.status = st
                elif st == "edited":
                    n = _key_node(n.label, values[n.label], types.get(n.label, ""), n.depth, n.file_index, values)
                    n.status = st
                elif n.kind == NOTE and any(s == "added" for s in status.values()):
                    continue  # "(no file metadata)": there is some now
                out.append(n)
            depth = target.depth + 1
            for key, value in values.items():
                if status.get(key) == "added":
                    n = _key_node(key, value, types.get(key, ""), depth, target.file_index, values)
                    n.status = "added"
                    out.append(n)
            target.children = out
        self.rebuild()

    def editable(self, node: Node) -> bool:
        """Whether ``node`` is a key of the metadata the edits apply to."""
        return self.target is not None and node.kind in (KEY, ARRAY) and node in self.target.children

    def row_of_key(self, key: str) -> int | None:
        """The row of ``key`` under the edited root, if shown."""
        if self.target is None:
            return None
        for n in self.target.children:
            if n.label == key and n.kind in (KEY, ARRAY):
                return self.row_of(n)
        return None

    # -- visible rows -------------------------------------------------------

    def rebuild(self) -> None:
        spans: list[tuple[int, Node, int]] = []
        row = 0

        def walk(nodes: list[Node]) -> None:
            nonlocal row
            for n in nodes:
                items = n.count if (n.kind == ARRAY and n.expanded) else 0
                spans.append((row, n, items))
                row += 1 + items
                if n.kind in (FILE, OBJECT) and n.expanded:
                    walk(n.children)

        walk(self.roots)
        self._spans = spans
        self._starts = [s[0] for s in spans]
        self.row_count = row

    def row(self, r: int) -> Line:
        k = bisect.bisect_right(self._starts, r) - 1
        start, node, _items = self._spans[k]
        return Line(node) if r == start else Line(node, r - start - 1)

    def row_of(self, node: Node, index: int | None = None) -> int | None:
        for start, n, items in self._spans:
            if n is node:
                if index is None:
                    return start
                return start + 1 + index if index < items else None
        return None

    def toggle(self, node: Node, expanded: bool | None = None) -> None:
        if node.expandable:
            node.expanded = (not node.expanded) if expanded is None else expanded
            self.rebuild()

    def reveal(self, node: Node, index: int | None = None) -> int:
        """Expand the parents of ``node`` (and ``node`` for an item) and
        return its row."""
        for chain in _chains(self.roots, node):
            for n in chain[:-1]:
                n.expanded = True
        if index is not None:
            node.expanded = True
        self.rebuild()
        r = self.row_of(node, index)
        assert r is not None
        return r

    def array_at(self, r: int) -> Node | None:
        """The array a row belongs to (its header or one of its items)."""
        line = self.row(r)
        return line.node if line.node.kind == ARRAY else None

    # -- search -------------------------------------------------------------

    def search(self, query: str, cancel: Callable[[], bool] = lambda: False) -> list[Match]:
        """Every key, value and array item that holds ``query`` (any case);
        numbers in arrays match a number query exactly."""
        q = query.lower()
        number = _number(query)
        out: list[Match] = []
        for n in _walk(self.roots):
            if cancel():
                break
            if n.kind == FILE:
                continue
            in_value = n.kind == KEY and (q in value_text(n.value, n.type_name).lower() or q in (n.note or "").lower())
            if q in n.label.lower() or in_value:
                out.append(Match(n, None))
            if n.kind != ARRAY or not n.count:
                continue
            items = n.items
            if n.elem_type == "string" or (items and isinstance(items[0], str)):
                lower = n.item_lower
                out.extend(Match(n, k) for k in range(len(items)) if q in lower(k))
            elif number is not None:
                out.extend(Match(n, k) for k, v in enumerate(items) if _equal(v, number))
            if n.item_note is not None and number is None:
                note = n.item_note
                out.extend(Match(n, k) for k, v in enumerate(items) if q in (note(v) or "").lower())
        return out


def value_text(value: Any, type_name: str = "") -> str:
    """A value as text (not escaped, not clipped: the widget does that)."""
    if isinstance(value, str):
        return value
    return scalar_text(value, type_name)


def _key_node(key: str, value: Any, type_name: str, depth: int, fi: int, metadata) -> Node:
    if hasattr(value, "nbytes") and hasattr(value, "count"):  # a lazy GGUF array
        arr = value
        return Node(
            ARRAY,
            key,
            depth,
            type_name=f"array[{arr.type_name}]",
            count=arr.count,
            elem_type=arr.type_name,
            load=lambda: array_items(arr),
            peek=arr.items,
            item_note=enum_decoder(key),
            file_index=fi,
        )
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], list):  # (element type, items)
        etype, items = value
        et = etype if isinstance(etype, str) else "array"
        return Node(
            ARRAY, key, depth, type_name=f"array[{et}]", count=len(items), elem_type=et,
            load=lambda: items, item_note=enum_decoder(key), file_index=fi,
        )  # fmt: skip
    return Node(
        KEY, key, depth, type_name=type_name, value=value, note=describe(key, value, type_name, metadata), file_index=fi
    )


def _json_entry(e) -> Node:
    root = Node(OBJECT, e.name, 0, type_name="entry", expanded=True)
    try:
        blob = read_bytes(e)
        if e.name == dataset_meta.NAME:
            try:
                meta, types = dataset_meta.decode(blob)
                root.type_name = GGUF_KEYVALUES
                for key, value in meta.items():
                    root.children.append(_key_node(key, value, types.get(key, ""), 1, 0, meta))
                return root
            except ValueError:
                pass  # not GGUF-shaped: show the JSON as it is
        doc = json.loads(blob.rstrip(b"\0").decode("utf-8"))
        _add_json(root, doc, 1)
    except (ValueError, UnicodeDecodeError, OSError) as err:
        root.children.append(Node(NOTE, f"not JSON: {err}", 1))
    return root


def _add_json(parent: Node, doc: Any, depth: int) -> None:
    if isinstance(doc, dict):
        for k, v in doc.items():
            parent.children.append(_json_node(str(k), v, depth))
    else:
        parent.children.append(_json_node("value", doc, depth))


def _json_node(key: str, v: Any, depth: int) -> Node:
    if isinstance(v, dict):
        node = Node(OBJECT, key, depth, type_name="object", expanded=depth < 2)
        _add_json(node, v, depth + 1)
        return node
    if isinstance(v, list):
        return Node(ARRAY, key, depth, type_name="list", count=len(v), elem_type="json", load=lambda: v)
    return Node(
        KEY, key, depth, type_name="json", value=json.dumps(v, ensure_ascii=False) if not isinstance(v, str) else v
    )


def _walk(nodes: list[Node]):
    for n in nodes:
        yield n
        yield from _walk(n.children)


def _chains(nodes: list[Node], target: Node, prefix: tuple[Node, ...] = ()):
    for n in nodes:
        chain = (*prefix, n)
        if n is target:
            yield chain
            return
        yield from _chains(n.children, target, chain)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _equal(v: Any, number: float) -> bool:
    return not isinstance(v, (str, bool)) and isinstance(v, (int, float)) and v == number

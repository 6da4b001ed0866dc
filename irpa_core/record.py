"""Plain-data classes: the part of ``dataclasses`` this project uses, at a
fraction of its start-up cost.

``@record`` reads a class's annotated fields like ``@dataclass`` and gives
it ``__init__``, ``__repr__``, ``__eq__`` and (frozen records) ``__hash__``
and read-only attributes; ``field`` and ``replace`` work as theirs do.
Why not ``dataclasses`` itself: every ``irpa`` command starts a Python
process, and importing ``dataclasses`` (which imports ``inspect``, ``ast``,
``dis``, ``tokenize``) and decorating the classes on the convert path cost
more than the rest of the engine's imports together (bench/RESULTS.md,
start-up). Only ``__init__`` is generated code, since it runs once per
entry of a 100,000-tensor archive; the rest are shared functions.

Supported, as in ``dataclasses``: ``frozen``, ``eq``, ``slots``,
``kw_only``; ``field(default=..., default_factory=..., compare=...,
repr=...)``; ``__post_init__``; a method the class defines itself is kept.
Not supported (not used here): inheritance between records, ``init=False``
fields, ``InitVar``/``ClassVar``, ordering.
"""

from __future__ import annotations

from operator import attrgetter

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TypeVar, dataclass_transform

    T = TypeVar("T")
else:

    def dataclass_transform(**kwargs):
        return lambda fn: fn


class FrozenInstanceError(AttributeError):
    """Assigning to a field of a frozen record."""


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class Field:
    __slots__ = ("compare", "default", "default_factory", "name", "repr")

    def __init__(self, default: Any, default_factory: Any, compare: bool, repr: bool) -> None:
        self.default, self.default_factory, self.compare, self.repr = default, default_factory, compare, repr
        self.name = ""


def field(*, default: Any = MISSING, default_factory: Any = MISSING, compare: bool = True, repr: bool = True) -> Any:
    """A field's options, as ``dataclasses.field``."""
    if default is not MISSING and default_factory is not MISSING:
        raise ValueError("cannot specify both default and default_factory")
    return Field(default, default_factory, compare, repr)


@dataclass_transform(field_specifiers=(field,))
def record(
    cls: Any = None, /, *, frozen: bool = False, eq: bool = True, slots: bool = False, kw_only: bool = False
) -> Any:
    """``@record`` or ``@record(frozen=True, ...)``: see the module's text."""

    def wrap(c: type) -> type:
        return _build(c, frozen, eq, slots, kw_only)

    return wrap if cls is None else wrap(cls)


def replace(obj: T, /, **changes: Any) -> T:
    """A copy of the record ``obj`` with some fields changed."""
    for f in type(obj).__record_fields__:  # type: ignore[attr-defined]
        if f.name not in changes:
            changes[f.name] = getattr(obj, f.name)
    return type(obj)(**changes)


def _build(cls: type, frozen: bool, eq: bool, slots: bool, kw_only: bool) -> type:
    own = dict(cls.__dict__)
    fields: list[Field] = []
    for name in own.get("__annotations__", {}):
        value = own.get(name, MISSING)
        f = value if isinstance(value, Field) else Field(value, MISSING, True, True)
        f.name = name
        fields.append(f)
    names = tuple(f.name for f in fields)
    added: dict[str, Any] = {"__record_fields__": tuple(fields)}
    if "__init__" not in own:
        added["__init__"] = _make_init(cls, fields, frozen, kw_only, "__post_init__" in own)
    if "__repr__" not in own:
        added["__repr__"] = _make_repr(tuple(f.name for f in fields if f.repr))
    if eq:
        key = _key([f.name for f in fields if f.compare])
        if "__eq__" not in own:
            added["__eq__"] = _make_eq(key)
        # As dataclasses: a __hash__ the class wrote is kept; otherwise a
        # frozen record hashes its compared fields and a mutable one has none.
        if not ("__hash__" in own and not (own["__hash__"] is None and "__eq__" in own)):
            added["__hash__"] = (lambda self: hash(key(self))) if frozen else None
    if frozen:
        added["__setattr__"] = _frozen_setattr
        added["__delattr__"] = _frozen_delattr
    if not slots:
        for name, value in added.items():
            setattr(cls, name, value)
        for f in fields:  # the class attribute is the default, as with dataclasses
            if own.get(f.name) is f:
                if f.default is MISSING:
                    delattr(cls, f.name)
                else:
                    setattr(cls, f.name, f.default)
        return cls
    # Slots: a new class (a slot cannot share its name with a class attribute).
    body = {k: v for k, v in own.items() if k not in names and k not in ("__dict__", "__weakref__")}
    body.update(added, __slots__=names)
    if frozen:
        body["__getstate__"] = lambda self: [getattr(self, n) for n in names]
        body["__setstate__"] = _make_setstate(names)
    new = type(cls)(cls.__name__, cls.__bases__, body)
    new.__qualname__ = cls.__qualname__
    return new


def _make_setstate(names: tuple[str, ...]) -> Any:
    def __setstate__(self, state: list) -> None:
        for n, v in zip(names, state):
            object.__setattr__(self, n, v)

    return __setstate__


def _key(names: list[str]) -> Any:
    if not names:
        return lambda self: ()
    if len(names) == 1:
        get = attrgetter(names[0])
        return lambda self: (get(self),)
    return attrgetter(*names)


def _make_init(cls: type, fields: list[Field], frozen: bool, kw_only: bool, post_init: bool) -> Any:
    env: dict[str, Any] = {"MISSING": MISSING, "setattr": object.__setattr__}
    params, lines = [], []
    for f in fields:
        n = f.name
        if f.default_factory is not MISSING:
            env[f"factory_{n}"] = f.default_factory
            params.append(f"{n}=MISSING")
            lines.append(f"if {n} is MISSING: {n} = factory_{n}()")
        elif f.default is not MISSING:
            env[f"default_{n}"] = f.default
            params.append(f"{n}=default_{n}")
        else:
            if params and "=" in params[-1] and not kw_only:
                raise TypeError(f"{cls.__name__}: non-default field {n!r} follows a default one")
            params.append(n)
        lines.append(f"setattr(self, {n!r}, {n})" if frozen else f"self.{n} = {n}")
    if post_init:
        lines.append("self.__post_init__()")
    star = "*, " if kw_only and params else ""
    src = f"def __init__(self, {star}{', '.join(params)}):\n    " + "\n    ".join(lines or ["pass"])
    exec(src, env)
    init = env["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    return init


def _make_repr(names: tuple[str, ...]) -> Any:
    def __repr__(self) -> str:
        inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in names)
        return f"{type(self).__qualname__}({inner})"

    return __repr__


def _make_eq(key: Any) -> Any:
    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return key(self) == key(other)

    return __eq__


def _frozen_setattr(self: object, name: str, value: object) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_delattr(self: object, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")

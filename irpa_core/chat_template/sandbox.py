"""Rendering a chat template the way runtimes do, inside jinja2's immutable
sandbox, with bounds on what a hostile template can cost.

The environment is llama-cpp-python's ``Jinja2ChatFormatter`` (which itself
follows Hugging Face's ``apply_chat_template``): ``ImmutableSandboxedEnvironment``
without a loader's templates, ``trim_blocks`` and ``lstrip_blocks``, the
``loopcontrols`` extension and a pass-through ``{% generation %}`` tag, a
``tojson`` filter that is ``json.dumps`` (no HTML escaping, ``ensure_ascii``
off), and the variables ``messages``, ``add_generation_prompt``,
``bos_token``, ``eos_token``, ``raise_exception``, ``strftime_now``,
``tools``, ``tool_choice``, ``functions``, ``function_call`` (None unless
given). README "Fix and check a chat template" lists where transformers
differs and what we chose.

Bounds (a template is data from a file, and may be written to hurt):

- ``range`` is the sandbox's, capped at 100,000 items;
- ``*`` and ``**`` are checked before they run: a string or list that would
  pass ``MAX_VALUE`` items, an integer power past 4,096 bits, is refused;
- an integer argument above ``MAX_WIDTH`` to a filter or string method
  that pads or splits by it (``center(10**9)``, ``'x'.ljust(...)``), and a
  number of 7 digits or more in a format string (``'%1000000000d'``, ``'{:>1000000000}'``), are refused
  before the call; a filter, method or attribute giving a value longer than
  ``MAX_VALUE`` stops the render;
- the output is read piece by piece and stops past ``MAX_OUTPUT``
  characters;
- a deadline (``timeout``, default 10 s) is checked on every line the
  template's compiled code runs (a trace function on the template's frames
  only, so loops that print nothing stop too).

Every failure is a ``TemplateError`` naming the line and column in the
template; the Python traceback never reaches the user.
"""

from __future__ import annotations

import json
import re
import sys
import time
from datetime import datetime

import jinja2
import jinja2.ext
from jinja2 import nodes
from jinja2.exceptions import SecurityError, TemplateSyntaxError
from jinja2.sandbox import MAX_RANGE, ImmutableSandboxedEnvironment, modifies_known_mutable

from ..errors import IrpaError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

MAX_OUTPUT = 16 << 20  # characters of rendered prompt
MAX_VALUE = 16 << 20  # items of one string or list the template builds
MAX_WIDTH = 1 << 20  # an integer argument to a filter or method (a width, a count)
MAX_POW_BITS = 4096
TIMEOUT = 10.0  # seconds
TEMPLATE_FILENAME = "<template>"  # what jinja2 names code compiled from a string

# The conversation rendered when none is given: two user turns and the
# assistant's reply between them, no system message (Gemma 2 and older
# Mistral templates refuse one).
DEFAULT_MESSAGES: tuple[dict[str, str], ...] = (
    {"role": "user", "content": "Hello!"},
    {"role": "assistant", "content": "Hi! How can I help you today?"},
    {"role": "user", "content": "What is the capital of France?"},
)

# A tool in the OpenAI form runtimes take, for templates that need tools.
SAMPLE_TOOLS: tuple[dict, ...] = (
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the current weather in a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string", "description": "The city"}},
                "required": ["city"],
            },
        },
    },
)


class TemplateError(IrpaError):
    """A template that cannot be parsed or rendered: ``reason`` (one line),
    ``line``/``column`` in the template (1-based; None when unknown),
    ``unsafe`` when the sandbox refused something or a bound stopped it.
    ``where``: what the template is (``model.gguf: tokenizer.chat_template``)."""

    def __init__(self, reason: str, line: int | None = None, column: int | None = None, *, unsafe: bool = False):
        self.reason = reason
        self.line = line
        self.column = column
        self.unsafe = unsafe
        self.where = ""
        super().__init__(self._text())

    def _text(self) -> str:
        at = f"line {self.line}, column {self.column}: " if self.line is not None else ""
        head = f"{self.where}: " if self.where else "chat template: "
        return f"{head}{at}{self.reason}"

    def located(self, where: str) -> TemplateError:
        """The same error naming the template's file and key."""
        self.where = where
        self.args = (self._text(),)
        return self


class _Limit(Exception):
    """A bound stopped the render (never raised by a template itself)."""


class _Immutable(Exception):
    """The template called a method that changes a list, dict or set."""


class _Raised(Exception):
    """The template called ``raise_exception``."""


# ---------------------------------------------------------------------------
# The environment


class _Generation(jinja2.ext.Extension):
    """Hugging Face's ``{% generation %}...{% endgeneration %}`` marks the
    assistant's tokens for training masks; rendering keeps its body as is
    (what transformers and llama-cpp-python output)."""

    tags = {"generation"}  # noqa: RUF012 (jinja2's Extension declares a set)

    def parse(self, parser):
        parser.stream.skip(1)
        return parser.parse_statements(("name:endgeneration",), drop_needle=True)


_WIDE_NUMBER = re.compile(r"\d{7,}")
# Filters whose integer arguments size what they build (a width, a count of
# pieces); the others' results are checked after (``_check_value``).
_WIDTH_FILTERS = {"center", "indent", "wordwrap", "truncate", "slice", "batch"}
_WIDTH_METHODS = {"ljust", "rjust", "center", "zfill", "expandtabs"}  # of str


def _check_format(fmt: object) -> None:
    wide = _WIDE_NUMBER.search(fmt) if isinstance(fmt, str) else None
    if wide is not None:
        raise _Limit(f"a format string with a width of 1,000,000 or more ({wide[0]})")


def _check_args(what: str, args: tuple, kwargs: dict) -> None:
    for a in (*args, *kwargs.values()):
        if isinstance(a, int) and not isinstance(a, bool) and abs(a) > MAX_WIDTH:
            raise _Limit(f"{what} with the argument {a} (more than {MAX_WIDTH:,})")


def _check_value(what: str, value: object) -> object:
    if isinstance(value, (str, list, tuple, dict)) and len(value) > MAX_VALUE:
        raise _Limit(f"{what} gave a value of {len(value):,} items (more than {MAX_VALUE:,})")
    return value


def _bounded_filter(name: str, f: Callable) -> Callable:
    pass_arg = getattr(f, "jinja_pass_arg", None)  # pass_context and friends: a first argument before the value
    value_at = 0 if pass_arg is None else 1

    def bounded(*args, **kwargs):
        if name in _WIDTH_FILTERS:
            _check_args(f"the filter '{name}'", args[value_at + 1 :], kwargs)
        elif name == "format" and len(args) > value_at:
            _check_format(args[value_at])
        return _check_value(f"the filter '{name}'", f(*args, **kwargs))

    if pass_arg is not None:
        setattr(bounded, "jinja_pass_arg", pass_arg)  # noqa: B010 (what jinja2's pass_context sets)
    return bounded


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False) -> str:
    """transformers' and llama-cpp-python's ``tojson``: ``json.dumps``, no
    HTML escaping (jinja2's own escapes ``<``, ``>``, ``&``, ``'``)."""
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


class Sandbox(ImmutableSandboxedEnvironment):
    """The runtimes' environment plus the bounds of the module docstring."""

    intercepted_binops = frozenset({"*", "**"})

    def __init__(self) -> None:
        super().__init__(
            loader=jinja2.BaseLoader(),
            trim_blocks=True,
            lstrip_blocks=True,
            extensions=[_Generation, jinja2.ext.loopcontrols],
        )
        self.filters["tojson"] = tojson
        self.filters = {name: _bounded_filter(name, f) for name, f in self.filters.items()}

    def call_binop(self, context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(n, int) and len(seq) * n > MAX_VALUE:
                    raise _Limit(f"'*' would build {len(seq) * n:,} items (more than {MAX_VALUE:,})")
        elif (
            operator == "**"
            and isinstance(left, int)
            and isinstance(right, int)
            and right > 0
            and abs(left) > 1
            and right * abs(left).bit_length() > MAX_POW_BITS
        ):
            raise _Limit(f"'**' would give an integer of more than {MAX_POW_BITS:,} bits")
        return super().call_binop(context, operator, left, right)

    def call(__self, __context, __obj, *args, **kwargs):  # jinja2's own signature
        if isinstance(getattr(__obj, "__self__", None), str) and getattr(__obj, "__name__", "") in _WIDTH_METHODS:
            _check_args(f"the method '{getattr(__obj, '__name__', '?')}'", args, kwargs)
        return _check_value("a call", super().call(__context, __obj, *args, **kwargs))

    def getattr(self, obj, attribute):
        return _check_value(f"the attribute '{attribute}'", super().getattr(obj, attribute))

    def getitem(self, obj, argument):
        return _check_value("an item", super().getitem(obj, argument))

    def unsafe_undefined(self, obj, attribute):
        # jinja2 returns an Undefined that fails only when used, and prints
        # as '' (what transformers renders for ``{{ x.__class__ }}``): refuse
        # at the access instead, so that no unsafe reach passes silently.
        if modifies_known_mutable(obj, attribute):
            raise _Immutable(attribute, type(obj).__name__)
        raise SecurityError(f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe")

    def wrap_str_format(self, value):
        fmt = super().wrap_str_format(value)
        if fmt is None:
            return None
        text = value.__self__

        def checked(*args, **kwargs):
            _check_format(text)
            return fmt(*args, **kwargs)

        return checked


def raise_exception(message: object = "") -> None:
    """The ``raise_exception(msg)`` templates call to refuse a conversation."""
    raise _Raised(str(message))


def parse(template: str) -> nodes.Template:
    """The template's syntax tree, or a TemplateError at its line."""
    try:
        return Sandbox().parse(template)
    except TemplateSyntaxError as e:
        raise _syntax_error(e, template) from None


def render(
    template: str,
    messages: list | tuple = DEFAULT_MESSAGES,
    *,
    add_generation_prompt: bool = True,
    bos_token: str = "",
    eos_token: str = "",
    tools: list | None = None,
    variables: dict | None = None,
    now: Callable[[], datetime] | None = None,
    timeout: float = TIMEOUT,
) -> str:
    """The prompt ``template`` renders for ``messages``, as llama-cpp-python's
    ``Jinja2ChatFormatter`` renders it.

    ``variables``: more template variables (``enable_thinking``, the other
    special tokens of a Hugging Face tokenizer_config.json...); they may
    override the defaults. ``now``: the clock behind ``strftime_now``
    (tests fix it). Raises ``TemplateError`` with the template's line and
    column for a syntax error, an undefined variable, ``raise_exception``,
    anything the sandbox refuses (``unsafe``), and a bound reached
    (``unsafe``)."""
    env = Sandbox()
    try:
        compiled = env.from_string(template)
    except TemplateSyntaxError as e:
        raise _syntax_error(e, template) from None
    clock = now or datetime.now

    def strftime_now(fmt: str) -> str:
        _check_format(fmt)
        return clock().strftime(fmt)

    context = {
        "messages": [dict(m) if isinstance(m, dict) else m for m in messages],
        "eos_token": eos_token,
        "bos_token": bos_token,
        "raise_exception": raise_exception,
        "add_generation_prompt": add_generation_prompt,
        "functions": None,
        "function_call": None,
        "tools": tools,
        "tool_choice": None,
        "strftime_now": strftime_now,
        **(variables or {}),
    }
    out: list[str] = []
    size = 0
    deadline = time.monotonic() + timeout
    previous = sys.gettrace()
    sys.settrace(_deadline_tracer(deadline, timeout))
    try:
        for piece in compiled.generate(context):
            size += len(piece)
            if size > MAX_OUTPUT:
                raise _Limit(f"the output passed {MAX_OUTPUT:,} characters")
            out.append(piece)
    except Exception as e:  # the template's code: any failure is the template's
        raise _runtime_error(e, template) from None
    finally:
        sys.settrace(previous)
    return "".join(out)


def _deadline_tracer(deadline: float, timeout: float):
    def on_line(frame, event, arg):
        if event == "line" and time.monotonic() > deadline:
            raise _Limit(f"the template ran longer than {timeout:g} s")
        return on_line

    def on_call(frame, event, arg):
        # Trace only the template's own frames: library code runs untraced.
        if frame.f_code.co_filename == TEMPLATE_FILENAME:
            return on_line
        return None

    return on_call


# ---------------------------------------------------------------------------
# Errors with their place in the template

_QUOTED = re.compile(r"'([^']{1,200})'")


def _syntax_error(e: TemplateSyntaxError, template: str) -> TemplateError:
    line = e.lineno or 1
    message = e.message or "syntax error"
    if "end of template" in message:
        lines = template.split("\n")
        line = min(line, len(lines))
        return TemplateError(message, line, len(lines[line - 1]) + 1)
    return TemplateError(message, line, column_of(template, line, _QUOTED.findall(message)))


def _runtime_error(e: Exception, template: str) -> TemplateError:
    line = _template_line(e)
    if isinstance(e, _Raised):
        reason, needles, unsafe = f"raise_exception: {e}", ["raise_exception"], False
    elif isinstance(e, SecurityError):
        reason, needles, unsafe = f"the sandbox refused: {e}", _QUOTED.findall(str(e)), True
    elif isinstance(e, _Immutable):
        attribute, kind = e.args
        reason = (
            f"the immutable sandbox refuses '{attribute}': it changes a {kind} "
            "(transformers and llama-cpp-python refuse it too)"
        )
        needles, unsafe = [attribute], False
    elif isinstance(e, _Limit):
        reason, needles, unsafe = f"stopped: {e}", [], True
    elif isinstance(e, OverflowError) and "MAX_RANGE" in str(e):
        reason, needles, unsafe = f"the sandbox refused: a range of more than {MAX_RANGE:,} items", ["range"], True
    elif isinstance(e, RecursionError):
        reason, needles, unsafe = "stopped: recursion too deep", [], True
    elif isinstance(e, MemoryError):
        reason, needles, unsafe = "stopped: out of memory", [], True
    else:
        text = str(e) or type(e).__name__
        reason, needles, unsafe = f"{type(e).__name__}: {text}", _QUOTED.findall(text), False
    if line is None:
        return TemplateError(reason, unsafe=unsafe)
    return TemplateError(reason, line, column_of(template, line, needles), unsafe=unsafe)


def _template_line(e: BaseException) -> int | None:
    # jinja2 rewrites tracebacks so that template frames carry the
    # template's line numbers; the innermost one is where it failed.
    line = None
    tb = e.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == TEMPLATE_FILENAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def column_of(template: str, line: int, needles: list[str]) -> int:
    """The 1-based column on ``line`` of the first needle found there, else
    of the first ``{{``/``{%`` tag on it, else 1 (jinja2 keeps lines only)."""
    lines = template.split("\n")
    if not 1 <= line <= len(lines):
        return 1
    text = lines[line - 1]
    for needle in needles:
        i = text.find(needle)
        if i >= 0:
            return i + 1
    tags = [i for i in (text.find("{{"), text.find("{%")) if i >= 0]
    return min(tags) + 1 if tags else 1

"""Auditing a chat template and the vocabulary it writes for.

``audit(template, vocab)`` returns findings, each with its evidence (the
text, where it is in the template, the token id and type). Nothing here
runs the template outside the sandbox: the unsafe constructs are found on
the syntax tree, and the one render (the default conversation) goes through
``sandbox.render`` with its bounds.

Severities: ``unsafe`` (the sandbox refuses it, a bound stops it, or text
hides from a reader), ``error`` (the template does not render, a token the
file names does not exist), ``warning`` (it renders, but a runtime will not
get what the template's author meant), ``note``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from jinja2 import meta, nodes
from jinja2.sandbox import (
    MAX_RANGE,
    UNSAFE_ASYNC_GENERATOR_ATTRIBUTES,
    UNSAFE_COROUTINE_ATTRIBUTES,
    UNSAFE_FUNCTION_ATTRIBUTES,
    UNSAFE_GENERATOR_ATTRIBUTES,
    UNSAFE_METHOD_ATTRIBUTES,
)

from . import sandbox
from .sandbox import DEFAULT_MESSAGES, SAMPLE_TOOLS, TemplateError, column_of

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Literal, Protocol

    Severity = Literal["unsafe", "error", "warning", "note"]

    class Vocab(Protocol):
        """What the audit needs of a tokenizer (``irpa_core.tokenizer.Tokenizer`` has it)."""

        n_vocab: int
        bos_id: int | None
        eos_id: int | None
        eot_id: int | None
        add_bos: bool

        def token_id(self, piece: str) -> int | None: ...
        def piece(self, token_id: int) -> str: ...
        def token_type(self, token_id: int) -> int: ...


SEVERITIES = ("unsafe", "error", "warning", "note")
TOKEN_TYPES = {1: "normal", 2: "unknown", 3: "control", 4: "user-defined", 5: "unused", 6: "byte"}
NORMAL, UNKNOWN, UNUSED = 1, 2, 5

# Attribute names the sandbox refuses on some object (besides every name
# starting with '_'): Python 2 function attributes and the frames and code of
# generators, coroutines, tracebacks and frames.
_INTERNAL = (
    UNSAFE_FUNCTION_ATTRIBUTES
    | UNSAFE_METHOD_ATTRIBUTES
    | UNSAFE_GENERATOR_ATTRIBUTES
    | UNSAFE_COROUTINE_ATTRIBUTES
    | UNSAFE_ASYNC_GENERATOR_ATTRIBUTES
    | {"mro", "func_globals", "func_code", "func_closure", "im_func", "im_self", "im_class"}
    | {"tb_frame", "tb_next", "f_globals", "f_locals", "f_builtins", "f_code", "f_back", "gi_yieldfrom"}
)
# Methods that change a list, dict or set: the immutable sandbox refuses them.
_MUTATING = {
    "append", "extend", "insert", "pop", "popitem", "remove", "clear", "update", "setdefault", "add", "discard",
    "sort", "reverse", "difference_update", "intersection_update", "symmetric_difference_update",
}  # fmt: skip
# Globals a chat template has no use for, known as steps towards Python's
# internals in template-injection payloads.
_STEPPING_STONES = {"self", "lipsum", "cycler", "joiner"}
# Filters that read an attribute named by a string argument.
_ATTRIBUTE_FILTERS = {
    "attr",
    "map",
    "selectattr",
    "rejectattr",
    "sort",
    "groupby",
    "sum",
    "unique",
    "min",
    "max",
    "join",
}
_FORMAT_FIELD = re.compile(r"\{([^{}:!]*)")

# Text that looks like a special token. Strong: the <|...|> family (and
# DeepSeek's full-width bars) and [UPPER] markers; weak: <word> tags, which
# are often plain text (Qwen's <tools>), so a missing one is only a note
# (unless _BARE_SPECIAL below says otherwise).
_STRONG = re.compile(r"<\|[^<>|\s]{1,100}\|>|<｜[^<>｜\s]{1,100}｜>|\[/?[A-Z][A-Z0-9_]{1,40}\]")
_WEAK = re.compile(r"</?[A-Za-z][A-Za-z0-9_\-.:]{0,40}>")
# Tags that are special tokens wherever they appear: SentencePiece's own,
# and any with an underscore (<start_of_turn>, <end_of_utterance>).
_BARE_SPECIAL = {"<s>", "</s>", "<unk>", "<pad>", "<bos>", "<eos>", "<mask>"}

# Tokens llama.cpp ends generation on by their text (src/llama-vocab.cpp),
# besides the EOS and EOT ids the file names.
LLAMA_CPP_EOG = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>", "<end_of_turn>",
    "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>",
    "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>", "<｜end▁of▁sentence｜>", "[e~[",
}  # fmt: skip

_BIDI = set(range(0x202A, 0x202F)) | set(range(0x2066, 0x206A)) | {0x200E, 0x200F, 0x061C}
_ZERO_WIDTH = {0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF}
_MAX_PER_KIND = 20  # invisible characters listed one by one; more are counted


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One thing the audit found: ``check`` names the check (``sandbox``,
    ``invisible``, ``render``, ``special-token``, ``bos``, ``eos``),
    ``message`` says what and why in one sentence, ``evidence`` quotes the
    text or token; ``line``/``column`` place it in the template (1-based;
    None when it is about the vocabulary or the rendered prompt)."""

    severity: Severity
    check: str
    message: str
    evidence: str = ""
    line: int | None = None
    column: int | None = None

    def to_json(self) -> dict:
        return {
            "severity": self.severity,
            "check": self.check,
            "message": self.message,
            "evidence": self.evidence,
            "line": self.line,
            "column": self.column,
        }


def is_unsafe(findings: list[Finding]) -> bool:
    """Whether ``irpa template --audit`` exits 1: something unsafe, or a
    template that does not render."""
    return any(f.severity in ("unsafe", "error") for f in findings)


def audit(
    template: str,
    vocab: Vocab | None = None,
    *,
    bos_token: str = "",
    eos_token: str = "",
    variables: dict | None = None,
    timeout: float = sandbox.TIMEOUT,
) -> list[Finding]:
    """Every finding about ``template`` (and ``vocab`` when given: the
    tokenizer of the same file), most severe first. ``bos_token``/
    ``eos_token``/``variables``: what a runtime passes the template, as for
    ``sandbox.render``."""
    findings = list(invisible_characters(template))
    try:
        tree = sandbox.parse(template)
    except TemplateError as e:
        findings.append(
            Finding(
                severity="error",
                check="render",
                message=f"the template does not parse: {e.reason}",
                line=e.line,
                column=e.column,
            )
        )
        return _sorted(findings)
    findings += unsafe_constructs(tree, template)
    prompt, error = _try_render(template, bos_token, eos_token, variables, timeout, None)
    if error is not None and not error.unsafe and "tools" in meta.find_undeclared_variables(tree):
        with_tools, again = _try_render(template, bos_token, eos_token, variables, timeout, list(SAMPLE_TOOLS))
        if again is None:
            findings.append(
                Finding(
                    severity="note",
                    check="render",
                    message=f"the default conversation renders only when given tools (without: {error.reason})",
                    line=error.line,
                    column=error.column,
                )
            )
            prompt, error = with_tools, None
    if error is not None:
        what = (
            "the sandbox stopped the default conversation"
            if error.unsafe
            else "the default conversation does not render"
        )
        findings.append(
            Finding(
                severity="unsafe" if error.unsafe else "error",
                check="render",
                message=f"{what}: {error.reason}",
                line=error.line,
                column=error.column,
            )
        )
    if vocab is not None:
        findings += vocabulary_checks(template, tree, vocab, prompt, bos_token)
    return _sorted(findings)


def _try_render(
    template: str, bos_token: str, eos_token: str, variables: dict | None, timeout: float, tools: list | None
) -> tuple[str | None, TemplateError | None]:
    try:
        prompt = sandbox.render(
            template, list(DEFAULT_MESSAGES), bos_token=bos_token, eos_token=eos_token, tools=tools,
            variables=variables, timeout=timeout,
        )  # fmt: skip
    except TemplateError as e:
        return None, e
    return prompt, None


def _sorted(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: SEVERITIES.index(f.severity))


# ---------------------------------------------------------------------------
# Text that hides


def invisible_characters(template: str) -> Iterator[Finding]:
    """Bidi controls, zero-width and other format characters (Unicode Cf,
    tags included), and control characters other than newline and tab, each
    with its line, column and code point."""
    counts: dict[str, int] = {}
    severity: Severity
    line, col = 1, 0
    for ch in template:
        col += 1
        if ch == "\n":
            line, col = line + 1, 0
            continue
        c = ord(ch)
        category = unicodedata.category(ch)
        if c in _BIDI:
            kind, severity, why = "bidi", "unsafe", "a bidirectional control: text shows in another order than it runs"
        elif c in _ZERO_WIDTH:
            kind, severity, why = "zero-width", "unsafe", "a zero-width character: invisible in an editor"
        elif category == "Cf":
            kind, severity, why = "format", "unsafe", "an invisible format character"
        elif category == "Cc" and ch != "\t":
            kind, severity, why = "control", "warning", "a control character"
        else:
            continue
        counts[kind] = counts.get(kind, 0) + 1
        if counts[kind] > _MAX_PER_KIND:
            continue
        name = unicodedata.name(ch, "")
        yield Finding(
            severity=severity,
            check="invisible",
            message=f"{why} in the template",
            evidence=f"U+{c:04X}" + (f" {name}" if name else ""),
            line=line,
            column=col,
        )
    for kind, n in counts.items():
        if n > _MAX_PER_KIND:
            severity = "warning" if kind == "control" else "unsafe"
            yield Finding(
                severity=severity,
                check="invisible",
                message=f"{n - _MAX_PER_KIND} more {kind} characters in the template",
                evidence=f"{n} in all",
            )


# ---------------------------------------------------------------------------
# What the sandbox refuses, found on the syntax tree


def _unsafe_name(name: str) -> bool:
    return name.startswith("_") or name in _INTERNAL or name in _MUTATING


def _why(name: str) -> str:
    if name in _MUTATING:
        return (
            f"'.{name}' changes a list or dict: where it runs, the immutable sandbox refuses it, as do "
            "transformers and llama-cpp-python (llama.cpp's own engine allows it)"
        )
    return f"'{name}' reaches Python internals: the sandbox refuses it"


def _severity(name: str) -> Severity:
    return "warning" if name in _MUTATING else "unsafe"


def refusal(findings: list[Finding]) -> TemplateError | None:
    """The error a template gets instead of a render when ``findings`` hold
    a construct the sandbox refuses: such a template is not run at all
    (the first one, and how many more). ``irpa template`` and the TUI's
    preview both refuse through this."""
    unsafe = [f for f in findings if f.severity == "unsafe" and f.check == "sandbox"]
    if not unsafe:
        return None
    f = unsafe[0]
    more = f" (and {len(unsafe) - 1} more)" if len(unsafe) > 1 else ""
    return TemplateError(f"unsafe, not rendered: {f.message}{more}", f.line, f.column, unsafe=True)


def unsafe_constructs(tree: nodes.Template, template: str) -> list[Finding]:
    """Attribute and item reads of internal names (``__class__``, ``mro``,
    ``__globals__``, ``_TemplateReference__context``, mutating methods),
    also through ``attr``/``map(attribute=...)`` and ``str.format`` fields;
    ranges larger than the sandbox allows; the stepping-stone globals."""
    found: list[Finding] = []
    seen: dict[tuple[int, str], int] = {}

    def add(node: nodes.Node, needle: str, severity: Severity, message: str, evidence: str) -> None:
        line = node.lineno
        column = _nth_column(template, line, needle, seen)
        found.append(
            Finding(severity=severity, check="sandbox", message=message, evidence=evidence, line=line, column=column)
        )

    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter, nodes.Const, nodes.Name, nodes.Call)):
        if isinstance(node, nodes.Getattr) and _unsafe_name(node.attr):
            add(node, node.attr, _severity(node.attr), _why(node.attr), f".{node.attr}")
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            if _unsafe_name(node.arg.value):
                add(node, node.arg.value, _severity(node.arg.value), _why(node.arg.value), f"[{node.arg.value!r}]")
        elif isinstance(node, nodes.Filter) and node.name in _ATTRIBUTE_FILTERS:
            for arg in [*node.args, *(kw.value for kw in node.kwargs)]:
                if isinstance(arg, nodes.Const) and isinstance(arg.value, str):
                    bad = [p for p in arg.value.split(".") if _unsafe_name(p) and p not in _MUTATING]
                    if bad:
                        add(node, bad[0], "unsafe", _why(bad[0]), f"|{node.name}({arg.value!r})")
        elif isinstance(node, nodes.Const) and isinstance(node.value, str) and "{" in node.value:
            for field in _FORMAT_FIELD.findall(node.value):
                parts = re.split(r"[.\[\]]", field)
                bad = [p for p in parts[1:] if p and _unsafe_name(p.strip("'\""))]
                if bad:
                    message = f"a str.format field reads '{bad[0]}', a Python internal: the sandbox refuses it"
                    add(node, bad[0], "unsafe", message, "{" + field + "}")
        elif isinstance(node, nodes.Name) and node.ctx == "load" and node.name in _STEPPING_STONES:
            add(
                node,
                node.name,
                "warning",
                f"'{node.name}': a chat template has no use for it; template-injection payloads start from it",
                node.name,
            )
        elif isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name) and node.node.name == "range":
            for arg in node.args:
                n = _constant(arg)
                if isinstance(n, int) and abs(n) > MAX_RANGE:
                    add(
                        node,
                        "range",
                        "unsafe",
                        f"a range of {n:,} items: the sandbox allows {MAX_RANGE:,}",
                        f"range({n})",
                    )
    return sorted(found, key=lambda f: (f.line or 0, f.column or 0))


def _constant(node: nodes.Node) -> object:
    """An integer expression of constants, computed with bounded powers."""
    if isinstance(node, nodes.Const):
        return node.value
    if isinstance(node, (nodes.Pow, nodes.Mul, nodes.Add, nodes.Sub)):
        a, b = _constant(node.left), _constant(node.right)
        if not (isinstance(a, int) and isinstance(b, int)):
            return None
        if isinstance(node, nodes.Pow):
            if b < 0 or b * max(1, abs(a).bit_length()) > sandbox.MAX_POW_BITS:
                return None if b < 0 else MAX_RANGE * 10  # too big to compute, past the cap anyway
            return a**b
        return a * b if isinstance(node, nodes.Mul) else a + b if isinstance(node, nodes.Add) else a - b
    return None


def _nth_column(template: str, line: int, needle: str, seen: dict[tuple[int, str], int]) -> int:
    # The k-th finding of the same text on a line is its k-th occurrence.
    lines = template.split("\n")
    k = seen.get((line, needle), 0)
    seen[(line, needle)] = k + 1
    if 1 <= line <= len(lines):
        text, start = lines[line - 1], -1
        for _ in range(k + 1):
            i = text.find(needle, start + 1)
            if i < 0:
                break
            start = i
        if start >= 0:
            return start + 1
    return column_of(template, line, [needle])


# ---------------------------------------------------------------------------
# Template against vocabulary


def _literal_texts(tree: nodes.Template) -> Iterator[tuple[int, str]]:
    for node in tree.find_all(nodes.TemplateData):
        yield node.lineno, node.data
    for const in tree.find_all(nodes.Const):
        if isinstance(const.value, str):
            yield const.lineno, const.value


def _describe(vocab: Vocab, token_id: int) -> str:
    t = vocab.token_type(token_id)
    return f"id {token_id}, {TOKEN_TYPES.get(t, f'type {t}')}"


def vocabulary_checks(
    template: str, tree: nodes.Template, vocab: Vocab, prompt: str | None, bos_token: str = ""
) -> list[Finding]:
    """Special tokens the template writes against the vocabulary; a doubled
    BOS; EOS/EOT that do not exist; a turn end no runtime stops on."""
    found: list[Finding] = []
    found += _special_tokens(template, tree, vocab, prompt)
    found += _bos(template, vocab, prompt, bos_token)
    found += _stop_tokens(vocab, prompt)
    return found


def _special_tokens(template: str, tree: nodes.Template, vocab: Vocab, prompt: str | None) -> list[Finding]:
    where: dict[str, tuple[int, int | None]] = {}
    strong: set[str] = set()
    texts = sorted(_literal_texts(tree), key=lambda t: t[0])  # first occurrence: the one reported
    if prompt is not None:
        texts.append((0, prompt))  # tokens a template builds from pieces show in what it renders
    for line, text in texts:
        for rx in (_STRONG, _WEAK):
            for m in rx.finditer(text):
                piece = m.group()
                if rx is _STRONG or "_" in piece or piece in _BARE_SPECIAL:
                    strong.add(piece)
                if piece not in where:
                    where[piece] = (line, column_of(template, line, [piece]) if line else None)
    found: list[Finding] = []
    for piece, (line, column) in where.items():
        token_id = vocab.token_id(piece)
        is_strong = piece in strong
        place = "the template writes" if line else "the rendered prompt holds"
        at = {"line": line or None, "column": column}
        if token_id is None:
            severity: Severity = "warning" if is_strong else "note"
            found.append(
                Finding(
                    severity=severity,
                    check="special-token",
                    message=f"{place} {piece!r}, which the vocabulary does not have: it is encoded "
                    "as several plain-text tokens",
                    evidence=piece,
                    **at,
                )
            )
            continue
        t = vocab.token_type(token_id)
        if t == NORMAL and is_strong:
            found.append(
                Finding(
                    severity="warning",
                    check="special-token",
                    message=f"{place} {piece!r}, which the vocabulary has as normal text "
                    "(not control or user-defined): it is not matched as one special token",
                    evidence=f"{piece} ({_describe(vocab, token_id)})",
                    **at,
                )
            )
        elif t in (UNKNOWN, UNUSED):
            found.append(
                Finding(
                    severity="warning",
                    check="special-token",
                    message=f"{place} {piece!r}, an {TOKEN_TYPES[t]} token of the vocabulary",
                    evidence=f"{piece} ({_describe(vocab, token_id)})",
                    **at,
                )
            )
    return found


def _valid(vocab: Vocab, token_id: int) -> bool:
    return 0 <= token_id < vocab.n_vocab


def _bos(template: str, vocab: Vocab, prompt: str | None, bos_token: str) -> list[Finding]:
    found: list[Finding] = []
    uses_bos = re.search(r"\bbos_token\b", template) is not None
    if vocab.bos_id is None and uses_bos:
        found.append(
            Finding(
                severity="warning",
                check="bos",
                message="the template writes bos_token but the vocabulary has no BOS: it renders as ''",
                evidence="bos_token",
            )
        )
    elif vocab.bos_id is not None and not _valid(vocab, vocab.bos_id):
        found.append(
            Finding(
                severity="error",
                check="bos",
                message=f"the BOS id {vocab.bos_id} is not a token (the vocabulary has {vocab.n_vocab:,})",
                evidence=f"bos id {vocab.bos_id}",
            )
        )
    bos_id = vocab.bos_id
    if prompt is None or bos_id is None or not _valid(vocab, bos_id):
        return found
    bos_text = bos_token or vocab.piece(bos_id)  # what the template was given (a checkpoint's config)
    starts = bool(bos_text) and prompt.startswith(bos_text)
    if starts and vocab.add_bos:
        found.append(
            Finding(
                severity="warning",
                check="bos",
                message="doubled BOS: the rendered prompt starts with the BOS token and the tokenizer "
                "adds one too (add_bos): tokenized with its special tokens the prompt starts with 2 BOS "
                "(llama.cpp's chat path strips the template's; llama-cpp-python and transformers "
                "tokenize the prompt without adding BOS)",
                evidence=f"prompt starts with {bos_text!r} ({_describe(vocab, bos_id)}); add_bos true",
            )
        )
    elif not starts and vocab.add_bos:
        found.append(
            Finding(
                severity="note",
                check="bos",
                message="the template writes no BOS while the tokenizer adds one: llama-cpp-python "
                "tokenizes the rendered prompt without adding BOS, so there the model gets none",
                evidence=f"BOS {bos_text!r} ({_describe(vocab, bos_id)}); add_bos true",
            )
        )
    return found


def _stop_tokens(vocab: Vocab, prompt: str | None) -> list[Finding]:
    found: list[Finding] = []
    if vocab.eos_id is None:
        found.append(
            Finding(
                severity="warning",
                check="eos",
                message="the vocabulary names no EOS token: a runtime has no stop token but the ones it knows by name",
                evidence="eos id missing",
            )
        )
    for label, token_id in (("EOS", vocab.eos_id), ("EOT", vocab.eot_id)):
        if token_id is None:
            continue
        if not _valid(vocab, token_id):
            found.append(
                Finding(
                    severity="error",
                    check="eos",
                    message=f"the {label} id {token_id} is not a token (the vocabulary has "
                    f"{vocab.n_vocab:,}): generation never stops on it",
                    evidence=f"{label.lower()} id {token_id}",
                )
            )
        elif vocab.token_type(token_id) == NORMAL:
            found.append(
                Finding(
                    severity="warning",
                    check="eos",
                    message=f"the {label} token is normal text, not a control token",
                    evidence=f"{vocab.piece(token_id)!r} ({_describe(vocab, token_id)})",
                )
            )
    if prompt is None:
        return found
    # What closes the assistant's turn in the default conversation: the
    # special-looking tokens between its reply and the next user message.
    reply, after = DEFAULT_MESSAGES[1]["content"], DEFAULT_MESSAGES[2]["content"]
    i = prompt.find(reply)
    j = prompt.find(after, i + len(reply)) if i >= 0 else -1
    if i < 0 or j < 0:
        return found
    closing = prompt[i + len(reply) : j]
    stops = {vocab.piece(t) for t in (vocab.eos_id, vocab.eot_id) if t is not None and _valid(vocab, t)}
    if any(s and s in closing for s in stops):
        return found
    written = [m.group() for rx in (_STRONG, _WEAK) for m in rx.finditer(closing)]
    known = [p for p in written if vocab.token_id(p) is not None]
    if not known:
        found.append(
            Finding(
                severity="warning",
                check="eos",
                message="the template closes an assistant turn with no token the vocabulary has: "
                "a model trained on it has no stop token to generate",
                evidence=repr(closing),
            )
        )
        return found
    eog = [p for p in known if p in LLAMA_CPP_EOG]
    stop_text = ", ".join(repr(s) for s in sorted(stops)) or "none"
    if eog:
        found.append(
            Finding(
                severity="note",
                check="eos",
                message=f"the template closes an assistant turn with {eog[0]!r}, which is not the "
                f"file's EOS/EOT ({stop_text}): llama.cpp stops on it by its text; a runtime that "
                "stops only on the EOS id does not",
                evidence=repr(closing),
            )
        )
    else:
        found.append(
            Finding(
                severity="warning",
                check="eos",
                message=f"the template closes an assistant turn with {known[0]!r}, which is neither "
                f"the file's EOS/EOT ({stop_text}) nor a token llama.cpp stops on: generation runs on "
                "past the turn",
                evidence=repr(closing),
            )
        )
    return found

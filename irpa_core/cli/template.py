"""``irpa template``: render a model's chat template, or audit it.

Renders as llama-cpp-python's ``Jinja2ChatFormatter`` does (jinja2's
immutable sandbox; see ``irpa_core.chat_template.sandbox``) and tokenizes
the prompt as it does: special tokens parsed, no BOS added (the template
writes its own). Exit status 1 for a template that does not render or that
the audit finds unsafe.
"""

from __future__ import annotations

import json
import sys

from ..display import escape
from ..errors import IrpaError
from . import ArgumentParser, CliError, print_json
from .args import add_files_flags, input_paths

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..chat_template import ChatTemplate, Finding


def build_parser(prog: str) -> ArgumentParser:
    p = ArgumentParser(
        prog=prog,
        description="Render a model's chat template (GGUF tokenizer.chat_template, or the chat_template of the "
        "tokenizer_config.json beside a safetensors file) in a sandbox, as llama-cpp-python renders it, and "
        "print the prompt and its token ids; with --audit, check the template and the vocabulary instead. "
        "Without --messages, a two-turn conversation is rendered (user, assistant, user).",
    )
    add_files_flags(p, "holding the template and the vocabulary")
    p.add_argument("--name", metavar="NAME", help="a named template (tokenizer.chat_template.NAME)")
    p.add_argument(
        "--template-file", metavar="PATH",
        help="render or audit this template (UTF-8 text) instead of the file's, with the file's vocabulary: "
        "check a fix before writing it with irpa convert --set-metadata-file",
    )  # fmt: skip
    p.add_argument(
        "--messages", metavar="FILE.json",
        help="the conversation: a JSON list of {role, content}, or an object with 'messages' and other template "
        "variables ('tools', 'enable_thinking'...); '-' reads standard input",
    )  # fmt: skip
    p.add_argument("--no-generation-prompt", action="store_true", help="render with add_generation_prompt false")
    p.add_argument(
        "--audit", action="store_true",
        help="check the template instead: what the sandbox refuses, invisible Unicode, special tokens the "
        "vocabulary lacks, a doubled BOS, missing EOS/stop tokens (exit 1 when unsafe). It renders the "
        "default conversation; --messages may add other variables",
    )  # fmt: skip
    p.add_argument("--print-template", action="store_true", help="print the template's text as it is (to edit it)")
    p.add_argument("--json", action="store_true", help="print JSON")
    return p


def run(args) -> int:
    from .. import open_archive
    from ..chat_template import TemplateError, find, from_text

    archive = open_archive(*input_paths(args, "template"))
    if args.template_file:
        tmpl = from_text(_read_text("--template-file", args.template_file), args.template_file, archive)
    else:
        tmpl = find(archive, args.name)
    if args.print_template:
        if args.json:
            print_json({"template": tmpl.where, "text": tmpl.text})
        else:
            # As it is into a file or pipe, to edit and write back; on a
            # terminal its control and bidi characters are shown escaped.
            text = tmpl.text
            if sys.stdout.isatty():
                text = "\n".join(escape(line) for line in text.split("\n"))
            sys.stdout.write(text)
        return 0
    tokenizer, why = _tokenizer(archive)
    try:
        if args.audit:
            return _audit(args, tmpl, tokenizer, why)
        return _render(args, tmpl, tokenizer, why)
    except TemplateError as e:
        raise e.located(tmpl.where) from None


def _tokenizer(archive):
    """The file's tokenizer, or None and why (the prompt is still shown)."""
    from ..tokenizer import load_tokenizer

    try:
        return load_tokenizer(archive), None
    except IrpaError as e:
        return None, str(e)


def _read_text(flag: str, path: str) -> str:
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise CliError(f"{flag}={path}: cannot read: {e.strerror}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CliError(f"{flag}={path}: not UTF-8 text (byte {e.start})") from None


def read_messages(spec: str) -> tuple[list, dict]:
    """``--messages``: the messages and the other template variables."""
    name = "standard input" if spec == "-" else spec
    if spec == "-":
        raw = getattr(sys.stdin, "buffer", None)  # bytes: JSON is UTF-8 whatever the locale says
        try:
            text = raw.read().decode("utf-8") if raw is not None else sys.stdin.read()
        except UnicodeDecodeError as e:
            raise CliError(f"--messages=-: standard input is not UTF-8 text (byte {e.start})") from None
    else:
        text = _read_text("--messages", spec)
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise CliError(f"--messages={name}: not JSON: {e}") from None
    variables: dict = {}
    if isinstance(doc, dict):
        variables = {k: v for k, v in doc.items() if k != "messages"}
        doc = doc.get("messages")
    if not isinstance(doc, list):
        raise CliError(f"--messages={name}: expected a list of messages or an object with 'messages'")
    for i, m in enumerate(doc, 1):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise CliError(f"--messages={name}: message {i} is not an object with a string 'role'")
    return doc, variables


def _render(args, tmpl: ChatTemplate, tokenizer, why: str | None) -> int:
    from ..chat_template import DEFAULT_MESSAGES, TemplateError, render
    from ..chat_template.audit import refusal, unsafe_constructs
    from ..chat_template.sandbox import parse

    refused = refusal(unsafe_constructs(parse(tmpl.text), tmpl.text))
    if refused is not None:
        hint = f"{refused.reason}; irpa template --audit lists all"
        raise TemplateError(hint, refused.line, refused.column, unsafe=True)
    messages, variables = read_messages(args.messages) if args.messages else (list(DEFAULT_MESSAGES), {})
    tools = variables.pop("tools", None)
    prompt = render(
        tmpl.text,
        messages,
        add_generation_prompt=not args.no_generation_prompt,
        bos_token=tmpl.bos_token,
        eos_token=tmpl.eos_token,
        tools=tools,
        variables={**tmpl.variables, **variables},
    )
    ids = None
    if tokenizer is not None:
        try:
            ids = tokenizer.encode(prompt, add_special=False, parse_special=True)
        except IrpaError as e:  # the prompt stands without its ids
            why = f"cannot tokenize the prompt: {e}"
    if args.json:
        print_json({"prompt": prompt, "ids": ids})
        if ids is None:
            print(f"irpa: note: no token ids: {escape(why or '')}", file=sys.stderr)
        return 0
    out = [escape(line) for line in prompt.split("\n")]
    if prompt.endswith("\n"):
        out.pop()
    sys.stdout.write("\n".join(out) + "\n")
    if not prompt.endswith("\n"):
        sys.stdout.write("\\ No newline at end of prompt\n")
    if ids is None:
        sys.stdout.write(f"-- no token ids: {escape(why or '')}\n")
    else:
        noun = "token" if len(ids) == 1 else "tokens"
        sys.stdout.write(f"-- {len(ids):,} {noun} (special tokens parsed, no BOS added):\n")
        sys.stdout.write(" ".join(map(str, ids)) + "\n")
    return 0


def _audit(args, tmpl: ChatTemplate, tokenizer, why: str | None) -> int:
    from ..chat_template import audit, is_unsafe

    variables = dict(tmpl.variables)
    if args.messages:
        variables.update(read_messages(args.messages)[1])
    findings = audit(tmpl.text, tokenizer, bos_token=tmpl.bos_token, eos_token=tmpl.eos_token, variables=variables)
    unsafe = is_unsafe(findings)
    if args.json:
        print_json({
            "template": tmpl.where,
            "unsafe": unsafe,
            "vocabulary_checked": tokenizer is not None,
            "findings": [f.to_json() for f in findings],
        })  # fmt: skip
    else:
        sys.stdout.write(format_findings(tmpl.where, findings))
    if tokenizer is None:
        print(f"irpa: note: vocabulary not checked: {escape(why or '')}", file=sys.stderr)
    return 1 if unsafe else 0


def format_findings(where: str, findings: list[Finding]) -> str:
    """The audit as text: one block per finding, then a count."""
    from ..display import plural

    lines = [escape(where)]
    for f in findings:
        at = f"  line {f.line}, column {f.column}" if f.line is not None else ""
        lines.append(f"  {f.severity:<8} {f.check}{at}")
        lines.append(f"    {escape(f.message)}")
        if f.evidence:
            lines.append(f"    evidence: {escape(f.evidence)}")
    counts = [(s, sum(f.severity == s for f in findings)) for s in ("unsafe", "error", "warning", "note")]
    lines.append(", ".join(plural(n, s, "unsafe" if s == "unsafe" else None) for s, n in counts if n) or "no findings")
    return "\n".join(lines) + "\n"

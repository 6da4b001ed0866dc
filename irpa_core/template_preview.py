"""A chat template's preview: the default conversation rendered (with the
generation prompt), its token ids, and the audit's findings, in one call
(the TUI's tokenizer screen shows it; it is what ``irpa template`` and
``irpa template --audit`` print, together).

A template with something the sandbox refuses is not rendered, as in
``irpa template``; a template that does not parse or render gives its
error with the line and column instead of a prompt. Rendering is the
engine's ``chat_template.render`` (jinja2's immutable sandbox, bounded).
"""

from __future__ import annotations

from dataclasses import dataclass

from .chat_template import DEFAULT_MESSAGES, ChatTemplate, Finding, TemplateError, audit, render
from .chat_template.audit import refusal
from .errors import IrpaError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .tokenizer import Tokenizer


@dataclass(frozen=True, slots=True, kw_only=True)
class Preview:
    """``prompt`` (None when it could not be rendered: ``error`` says why,
    with the template's line and column), ``ids`` (None without a
    tokenizer or when the prompt cannot be tokenized: ``note`` says why),
    and the audit's ``findings``, most severe first."""

    where: str
    prompt: str | None
    ids: list[int] | None
    findings: list[Finding]
    error: str | None = None
    note: str | None = None


def preview(template: ChatTemplate, tokenizer: Tokenizer | None = None, *, why_no_tokenizer: str = "") -> Preview:
    """Render ``template`` for ``DEFAULT_MESSAGES`` with the generation
    prompt, tokenize the prompt as llama-cpp-python does (special tokens
    parsed, nothing added) and audit the template against ``tokenizer``."""
    t = template
    findings = audit(t.text, tokenizer, bos_token=t.bos_token, eos_token=t.eos_token, variables=t.variables)
    refused = refusal(findings)
    if refused is not None:
        return Preview(where=t.where, prompt=None, ids=None, findings=findings, error=str(refused.located(t.where)))
    try:
        prompt = render(
            t.text, list(DEFAULT_MESSAGES), add_generation_prompt=True, bos_token=t.bos_token,
            eos_token=t.eos_token, variables=t.variables,
        )  # fmt: skip
    except TemplateError as e:
        return Preview(where=t.where, prompt=None, ids=None, findings=findings, error=str(e.located(t.where)))
    if tokenizer is None:
        return Preview(where=t.where, prompt=prompt, ids=None, findings=findings, note=why_no_tokenizer or None)
    try:
        ids = tokenizer.encode(prompt, add_special=False, parse_special=True)
    except IrpaError as e:
        return Preview(where=t.where, prompt=prompt, ids=None, findings=findings, note=f"cannot tokenize it: {e}")
    return Preview(where=t.where, prompt=prompt, ids=ids, findings=findings)

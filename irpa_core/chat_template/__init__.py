"""Chat templates: render one as runtimes do, audit it against its vocabulary.

A GGUF file's ``tokenizer.chat_template`` (a Hugging Face checkpoint's
``tokenizer_config.json`` ``chat_template``) is a Jinja program every
runtime executes. Here it only ever runs inside jinja2's immutable sandbox,
with bounds on time, output and sizes (``sandbox``):

    render(template, messages, *, add_generation_prompt, bos_token, eos_token, tools) -> str
    audit(template, vocab, *, bos_token, eos_token) -> list[Finding]
    find(archive, name=None) -> ChatTemplate     # where the file keeps it (``source``)

Errors are ``TemplateError`` (an ``IrpaError``) with the line and column in
the template. Only this package imports jinja2.
"""

from __future__ import annotations

from .audit import Finding, audit, is_unsafe
from .sandbox import DEFAULT_MESSAGES, TemplateError, render
from .source import ChatTemplate, find, from_text

__all__ = [
    "DEFAULT_MESSAGES",
    "ChatTemplate",
    "Finding",
    "TemplateError",
    "audit",
    "find",
    "from_text",
    "is_unsafe",
    "render",
]

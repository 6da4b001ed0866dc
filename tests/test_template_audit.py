"""Auditing chat templates (issue 23, part 3): hostile templates are
flagged and run nothing, hidden Unicode is found, and the template is
checked against the vocabulary (special tokens, doubled BOS, stop tokens)."""

from __future__ import annotations

import pytest

from irpa_core.chat_template import TemplateError, audit, is_unsafe, render
from tests.template_fakes import CHATML, CONTROL, GEMMA, MISTRAL, NORMAL, UNUSED, chatml_vocab, gemma_vocab


def _by(findings, check=None, severity=None):
    return [f for f in findings if (check is None or f.check == check) and (severity is None or f.severity == severity)]


class Canary:
    """A template variable whose every reachable side effect is recorded:
    a template that escapes the sandbox would call one of them."""

    def __init__(self) -> None:
        self.touched: list[str] = []

    def _private(self) -> None:
        self.touched.append("private")

    def __call__(self, *args) -> str:  # the one thing a template may call
        return "ok"


def _hostile(path: str) -> list[str]:
    command = f"touch {path}"
    return [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ ''.__class__.mro()[1] }}",
        f"{{{{ cycler.__init__.__globals__.os.system('{command}') }}}}",
        f"{{{{ joiner.__init__.__globals__['os'].popen('{command}').read() }}}}",
        f"{{{{ lipsum.__globals__['os'].popen('{command}').read() }}}}",
        f"{{{{ self._TemplateReference__context.cycler.__init__.__globals__.os.system('{command}') }}}}",
        f"{{{{ raise_exception.__globals__['os'].system('{command}') }}}}",
        "{{ '{0.__class__.__init__.__globals__}'.format(canary) }}",
        "{{ canary._private() }}",
        "{{ canary['_private']() }}",
        "{{ (canary | attr('__class__')).__init__ }}",
        "{{ messages | map(attribute='__class__') | list }}",
        "{{ canary.__call__.__func__.__globals__ }}",
        "{% for i in range(10**9) %}{% endfor %}",
        # built at run time: the syntax tree cannot see them, the sandbox does
        "{{ ('{0.__cl' ~ 'ass__}').format(canary) }}",
        "{{ (canary | attr('_pri' ~ 'vate'))() }}",
    ]


@pytest.mark.parametrize("index", range(16))
def test_hostile_template_is_flagged_and_runs_nothing(tmp_path, index):
    """Each construct is flagged unsafe by the audit (on the syntax tree,
    and by the sandbox when it renders), rendering refuses it, and neither
    leaves a trace: no file touched, no private method called."""
    canary_file = tmp_path / "canary"
    template = "{{ bos_token }}\n" + _hostile(str(canary_file))[index]
    canary = Canary()
    findings = audit(template, bos_token="<s>", variables={"canary": canary})
    assert is_unsafe(findings)
    unsafe = _by(findings, severity="unsafe")
    assert unsafe and all(f.line == 2 for f in unsafe if f.line is not None)
    with pytest.raises(TemplateError) as e:
        render(template, variables={"canary": canary})
    assert e.value.unsafe and e.value.line == 2
    assert not canary_file.exists() and canary.touched == []


def test_static_check_finds_what_the_conversation_never_reaches():
    """A payload behind a branch the default conversation does not take is
    still found (on the syntax tree), with its line and column."""
    template = "{% if messages | length > 99 %}\n  {{ x.__class__.__base__ }}\n{% endif %}ok"
    findings = audit(template)
    assert [(f.line, f.column, f.evidence) for f in _by(findings, "sandbox")] == [
        (2, 8, ".__class__"),
        (2, 18, ".__base__"),
    ]
    assert not _by(findings, "render")


def test_stepping_stones_and_mutation_are_warnings():
    findings = audit("{{ lipsum }}{% set ns = namespace(l=[]) %}{{ ns.l.append(1) }}")
    assert [(f.severity, f.evidence) for f in _by(findings, "sandbox")] == [
        ("warning", "lipsum"),
        ("warning", ".append"),
    ]


def test_safe_real_style_templates_have_no_findings():
    for template in (CHATML, GEMMA, MISTRAL):
        assert audit(template, bos_token="<s>", eos_token="</s>") == []


def test_a_template_that_does_not_render_is_an_error():
    findings = audit("{{ messages[0]['content'] + 1 }}")
    assert is_unsafe(findings)
    assert [(f.severity, f.check, f.line) for f in findings] == [("error", "render", 1)]
    assert "TypeError" in findings[0].message
    parse = audit("{% if %}")
    assert [(f.severity, f.check) for f in parse] == [("error", "render")] and "does not parse" in parse[0].message


def test_template_that_needs_tools_renders_with_a_sample_tool():
    template = "{% for t in tools %}{{ t.function.name }}{% endfor %}{{ messages[0].content }}"
    findings = audit(template)
    assert [(f.severity, f.check) for f in findings] == [("note", "render")]
    assert "renders only when given tools" in findings[0].message


# ---------------------------------------------------------------------------
# Hidden Unicode


@pytest.mark.parametrize(
    "char, severity, name",
    [
        ("\u202e", "unsafe", "RIGHT-TO-LEFT OVERRIDE"),
        ("\u2066", "unsafe", "LEFT-TO-RIGHT ISOLATE"),
        ("\u200b", "unsafe", "ZERO WIDTH SPACE"),
        ("\u200d", "unsafe", "ZERO WIDTH JOINER"),
        ("\ufeff", "unsafe", "ZERO WIDTH NO-BREAK SPACE"),
        ("\u2060", "unsafe", "WORD JOINER"),
        ("\U000e0041", "unsafe", "TAG LATIN CAPITAL LETTER A"),
        ("\x1b", "warning", ""),
    ],
)
def test_invisible_characters_with_position_and_code_point(char, severity, name):
    template = "{{ bos_token }}\n{% if x %}ab" + char + "c{% endif %}"
    found = _by(audit(template), "invisible")
    assert len(found) == 1
    f = found[0]
    assert (f.severity, f.line, f.column) == (severity, 2, 13)
    assert f.evidence == f"U+{ord(char):04X}" + (f" {name}" if name else "")


def test_tabs_and_newlines_are_not_findings_and_many_are_counted():
    assert _by(audit("a\tb\nc\n"), "invisible") == []
    found = _by(audit("x" + "\u200b" * 25), "invisible")
    assert len(found) == 21 and found[-1].message == "5 more zero-width characters in the template"


# ---------------------------------------------------------------------------
# Against the vocabulary


def test_consistent_gemma_template_and_vocabulary():
    """A doubled BOS (the template writes <bos>, the tokenizer adds one) and
    <end_of_turn> closing turns (a stop llama.cpp knows by name, not the EOS)."""
    findings = audit(GEMMA, gemma_vocab(), bos_token="<bos>", eos_token="<eos>")
    assert [(f.severity, f.check) for f in findings] == [("warning", "bos"), ("note", "eos")]
    assert "doubled BOS" in findings[0].message and "'<bos>' (id 2, control)" in findings[0].evidence
    assert "'<end_of_turn>'" in findings[1].message
    as_eot = audit(GEMMA, gemma_vocab(eot_id=5, add_bos=False), bos_token="<bos>")
    assert as_eot == []


def test_special_tokens_missing_or_normal_text():
    vocab = chatml_vocab()
    template = CHATML.replace("<|im_end|>", "<|im_stop|>") + "{{ '[INST]' }}"
    found = _by(audit(template, vocab), "special-token")
    assert [(f.severity, f.evidence, f.line) for f in found] == [
        ("warning", "<|im_stop|>", 1),
        ("warning", "[INST]", 1),
    ]
    assert "does not have" in found[0].message and found[0].column == CHATML.index("<|im_end|>") + 1
    normal = chatml_vocab()
    normal.tokens[1] = ("<|im_start|>", NORMAL)
    found = _by(audit(CHATML, normal), "special-token")
    assert [f.evidence for f in found] == ["<|im_start|> (id 1, normal)"] and "normal text" in found[0].message
    unused = chatml_vocab()
    unused.tokens[1] = ("<|im_start|>", UNUSED)
    assert "unused token" in _by(audit(CHATML, unused), "special-token")[0].message


def test_tokens_built_from_pieces_are_found_in_the_rendered_prompt():
    template = "{% for m in messages %}{{ '<|' + 'eot' + '|>' }}{% endfor %}"
    found = _by(audit(template, chatml_vocab()), "special-token")
    assert [(f.evidence, f.line) for f in found] == [("<|eot|>", None)]
    assert "rendered prompt" in found[0].message


def test_weak_looking_tags_missing_are_notes():
    found = _by(audit("<tools></tools>" + CHATML, chatml_vocab()), "special-token")
    assert {(f.severity, f.evidence) for f in found} == {("note", "<tools>"), ("note", "</tools>")}


def test_gemma_template_on_a_vocabulary_without_its_tokens():
    """<start_of_turn> is a tag, but one with an underscore: a special token
    wherever it appears, so a vocabulary without it is a warning."""
    found = _by(audit(GEMMA, chatml_vocab()), "special-token")
    assert {(f.severity, f.evidence) for f in found} == {("warning", "<start_of_turn>"), ("warning", "<end_of_turn>")}


def test_bos_written_but_vocabulary_has_none():
    found = _by(audit("{{ bos_token }}" + CHATML, chatml_vocab()), "bos")
    assert [(f.severity, f.evidence) for f in found] == [("warning", "bos_token")]


def test_no_bos_written_while_the_tokenizer_adds_one():
    vocab = chatml_vocab(bos_id=0, add_bos=True)
    found = _by(audit(CHATML, vocab), "bos")
    assert [f.severity for f in found] == ["note"] and "llama-cpp-python" in found[0].message


def test_eos_that_does_not_exist():
    findings = audit(CHATML, chatml_vocab(eos_id=99, eot_id=-1))
    assert [f.evidence for f in _by(findings, "eos", "error")] == ["eos id 99", "eot id -1"]
    assert is_unsafe(findings)
    missing = _by(audit(CHATML, chatml_vocab(eos_id=None)), "eos", "warning")
    assert len(missing) == 1 and "no EOS" in missing[0].message
    normal = chatml_vocab(eos_id=3)  # 'user', a normal token
    assert any("normal text" in f.message for f in _by(audit(CHATML, normal), "eos"))


def test_turn_closed_by_a_token_no_runtime_stops_on():
    vocab = chatml_vocab()
    vocab.tokens.append(("<|turn_done|>", CONTROL))
    vocab.__post_init__()
    template = CHATML.replace("<|im_end|>", "<|turn_done|>")
    found = _by(audit(template, vocab), "eos")
    assert [f.severity for f in found] == ["warning"]
    assert "'<|turn_done|>'" in found[0].message and "generation runs on" in found[0].message
    assert _by(audit(CHATML, vocab), "eos") == []  # <|im_end|> is the EOS

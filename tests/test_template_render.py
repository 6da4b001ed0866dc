"""Rendering chat templates (issue 23, part 2): the prompt runtimes build,
errors placed in the template, and the bounds on a runaway template."""

from __future__ import annotations

from datetime import datetime

import pytest

from irpa_core.chat_template import DEFAULT_MESSAGES, TemplateError, render
from tests.template_fakes import CHATML, GEMMA, LLAMA3, MISTRAL

DAY = datetime(2024, 7, 26, 9, 30)

GEMMA_PROMPT = (
    "<bos><start_of_turn>user\nHello!<end_of_turn>\n"
    "<start_of_turn>model\nHi! How can I help you today?<end_of_turn>\n"
    "<start_of_turn>user\nWhat is the capital of France?<end_of_turn>\n"
    "<start_of_turn>model\n"
)


def test_default_conversation_in_gemma_style():
    assert render(GEMMA, bos_token="<bos>", eos_token="<eos>") == GEMMA_PROMPT


def test_no_generation_prompt():
    prompt = render(GEMMA, bos_token="<bos>", add_generation_prompt=False)
    assert prompt == GEMMA_PROMPT.removesuffix("<start_of_turn>model\n")


def test_chatml_and_given_messages():
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}]
    assert render(CHATML, messages) == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n"
    )


def test_bos_and_eos_text_where_the_template_writes_them():
    assert render(MISTRAL, bos_token="<s>", eos_token="</s>", add_generation_prompt=False) == (
        "<s>[INST] Hello! [/INST]Hi! How can I help you today?</s>[INST] What is the capital of France? [/INST]"
    )


def test_strftime_now_and_tools_as_json_without_html_escapes():
    """strftime_now reads the clock (fixed here); tojson is json.dumps as
    transformers and llama-cpp-python define it: no HTML escapes, UTF-8 kept."""
    tool = {"type": "function", "function": {"name": "f", "description": "a < b & c, café"}}
    prompt = render(LLAMA3, [{"role": "user", "content": "Hi"}], bos_token="<|begin_of_text|>", tools=[tool],
                    now=lambda: DAY)  # fmt: skip
    assert prompt.startswith(
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nToday Date: 26 Jul 2024\n{\n"
        '    "type": "function",\n    "function": {\n        "name": "f",\n'
        '        "description": "a < b & c, café"\n    }\n}\n\n<|eot_id|>'
    )
    assert prompt.endswith(
        "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
    )
    no_tools = render(LLAMA3, [{"role": "user", "content": "Hi"}], now=lambda: DAY)
    assert "Today Date: 26 Jul 2024\n<|eot_id|>" in no_tools


def test_trim_blocks_and_lstrip_blocks_as_runtimes():
    """A block tag's own line leaves nothing behind: indentation before it
    and the newline after it go (both runtimes set trim_blocks and
    lstrip_blocks); text lines keep theirs."""
    template = (
        "{% for m in messages %}\n    {% if m.role == 'user' %}\nU: {{ m.content }}\n    {% endif %}\n{% endfor %}\n"
    )
    assert render(template) == "U: Hello!\nU: What is the capital of France?\n"


def test_generation_tag_loop_controls_and_extra_variables():
    template = (
        "{% for m in messages %}{% if loop.index > 2 %}{% break %}{% endif %}"
        "{% generation %}[{{ m.role }}]{% endgeneration %}{% endfor %}{{ enable_thinking }}"
    )
    assert render(template, variables={"enable_thinking": False}) == "[user][assistant]False"


def test_runtime_variables_are_defined():
    """The variables llama-cpp-python passes: functions, function_call,
    tool_choice and tools are None unless given; documents is not passed."""
    template = (
        "{{ tools is none }} {{ tool_choice is none }} {{ functions is none }} {{ function_call is none }} "
        "{{ documents is defined }} {{ messages | length }} {{ add_generation_prompt }}"
    )
    assert render(template) == f"True True True True False {len(DEFAULT_MESSAGES)} True"


def test_messages_may_be_read_but_not_changed():
    with pytest.raises(
        TemplateError, match=r"line 1, column 13: the immutable sandbox refuses 'append': it changes a list"
    ) as e:
        render("{{ messages.append({'role': 'user'}) }}")
    assert not e.value.unsafe


# ---------------------------------------------------------------------------
# Errors, with their place in the template


def test_syntax_error_has_line_and_column():
    with pytest.raises(TemplateError) as e:
        render("{% for m in messages %}\n{{ m.content }}\n{% endfro %}")
    assert (e.value.line, e.value.column) == (3, 4)
    assert "endfro" in str(e.value) and "line 3, column 4" in str(e.value)


def test_unclosed_block_points_at_the_end():
    with pytest.raises(TemplateError) as e:
        render("{% if add_generation_prompt %}\nassistant:")
    assert (e.value.line, e.value.column) == (2, 11)
    assert "end of template" in e.value.reason


def test_undefined_is_placed_on_its_line():
    with pytest.raises(TemplateError) as e:
        render("{{ bos_token }}\n{{ 'x' + nothing.here }}")
    assert (e.value.line, e.value.column) == (2, 10)
    assert "'nothing' is undefined" in e.value.reason


def test_raise_exception_message_and_place():
    with pytest.raises(TemplateError) as e:
        render(GEMMA, [{"role": "system", "content": "x"}])
    assert e.value.reason == "raise_exception: System role not supported"
    assert e.value.line == 1 and GEMMA.split("\n")[0][e.value.column - 1 :].startswith("raise_exception")


def test_located_error_names_the_file_and_key():
    with pytest.raises(TemplateError) as e:
        render("{{ raise_exception('no') }}")
    err = e.value.located("m.gguf: tokenizer.chat_template")
    assert str(err) == "m.gguf: tokenizer.chat_template: line 1, column 4: raise_exception: no"


# ---------------------------------------------------------------------------
# Bounds: what a hostile or broken template can cost


@pytest.mark.parametrize(
    "template, reason",
    [
        ("{% for i in range(10**9) %}x{% endfor %}", "a range of more than 100,000 items"),
        ("{{ 'x' * 10**9 }}", "'*' would build 1,000,000,000 items"),
        ("{{ [0] * 10**9 }}", "'*' would build"),
        ("{{ 7 ** 100000 }}", "'**' would give an integer of more than 4,096 bits"),
        ("{{ 'x' | center(1000000000) }}", "the filter 'center' with the argument 1000000000"),
        ("{{ 'x'.ljust(1000000000) }}", "the method 'ljust' with the argument 1000000000"),
        ("{{ '%1000000000d' | format(1) }}", "a format string with a width of 1,000,000 or more"),
        ("{{ '{:>1000000000}'.format(1) }}", "a format string with a width of 1,000,000 or more"),
        ("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "recursion too deep"),
    ],
)
def test_bounds_refuse_before_the_cost(template, reason):
    with pytest.raises(TemplateError, match=r"stopped|refused") as e:
        render(template)
    assert reason in e.value.reason and e.value.unsafe


def test_output_is_capped(monkeypatch):
    from irpa_core.chat_template import sandbox

    monkeypatch.setattr(sandbox, "MAX_OUTPUT", 1000)
    with pytest.raises(TemplateError, match="the output passed 1,000 characters"):
        render("{% for i in range(100000) %}{{ 'abcdefgh' }}{% endfor %}")


def test_deadline_stops_a_loop_that_prints_nothing():
    """10^10 empty iterations: every range is within the sandbox's cap, no
    output, no call; the deadline checked on the template's lines stops it."""
    with pytest.raises(TemplateError, match=r"ran longer than 0\.2 s") as e:
        render("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", timeout=0.2)
    assert e.value.unsafe


def test_render_leaves_the_tracer_as_it_was():
    import sys

    def mine(frame, event, arg):
        return None

    sys.settrace(mine)
    try:
        render(CHATML)
        with pytest.raises(TemplateError):
            render("{{ 'x' * 10**9 }}")
        assert sys.gettrace() is mine
    finally:
        sys.settrace(None)


def test_large_numbers_elsewhere_are_fine():
    """The width bounds are about what a call builds, not about numbers."""
    template = "{{ x | default(1700000000) }} {{ {'a': 1}.get('b', 123456789) }} {{ 'abc'.count('a', 0, 99999999) }}"
    assert render(template) == "1700000000 123456789 1"

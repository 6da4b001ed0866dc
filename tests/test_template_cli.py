"""``irpa template``: the template found in a GGUF file or beside a
safetensors file, rendered with its ids, audited, and every bad input a
one-line error (issue 23, parts 2 and 3)."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from irpa_core.cli import main
from irpa_core.cli import template as template_cli
from tests.fixtures import make_gguf, make_safetensors
from tests.template_fakes import CHATML, GEMMA, gemma_vocab

TOKENS = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>", "user", "model", "\n", "Hello"]
TYPES = [3, 3, 3, 2, 3, 3, 1, 1, 4, 1]
GEMMA_PROMPT = (
    "<bos><start_of_turn>user\nHello!<end_of_turn>\n"
    "<start_of_turn>model\nHi! How can I help you today?<end_of_turn>\n"
    "<start_of_turn>user\nWhat is the capital of France?<end_of_turn>\n"
    "<start_of_turn>model\n"
)


def _gguf(path, **templates):
    kv = {
        "tokenizer.ggml.model": "llama",
        "tokenizer.ggml.tokens": TOKENS,
        "tokenizer.ggml.token_type": TYPES,
        "tokenizer.ggml.bos_token_id": 2,
        "tokenizer.ggml.eos_token_id": 1,
        "tokenizer.ggml.add_bos_token": True,
    }
    for name, text in templates.items():
        kv["tokenizer.chat_template" + ("" if name == "default" else "." + name)] = text
    return make_gguf(path, {"w": np.ones(2, np.float32)}, kv)


@pytest.fixture
def gemma_gguf(tmp_path):
    return _gguf(tmp_path / "gemma.gguf", default=GEMMA, chatml=CHATML)


@pytest.fixture
def fake_tokenizer(monkeypatch):
    vocab = gemma_vocab()
    monkeypatch.setattr(template_cli, "_tokenizer", lambda archive: (vocab, None))
    return vocab


@pytest.fixture
def no_tokenizer(monkeypatch):
    monkeypatch.setattr(template_cli, "_tokenizer", lambda archive: (None, "no tokenizer here"))


def _run(capsys, *argv):
    code = main(["template", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_render_json_prompt_and_ids(gemma_gguf, fake_tokenizer, capsys):
    """BOS/EOS text from the vocabulary; ids as llama-cpp-python tokenizes
    the prompt: special tokens parsed, no BOS added (the template wrote it)."""
    code, out, err = _run(capsys, gemma_gguf, "--json")
    assert code == 0 and err == ""
    doc = json.loads(out)
    assert doc == {"prompt": GEMMA_PROMPT, "ids": fake_tokenizer.encode(GEMMA_PROMPT, add_special=False)}
    assert doc["ids"][:3] == [2, 4, 6]  # <bos> <start_of_turn> user: one BOS


def test_render_human_output(gemma_gguf, fake_tokenizer, capsys):
    code, out, _ = _run(capsys, gemma_gguf)
    ids = fake_tokenizer.encode(GEMMA_PROMPT, add_special=False)
    assert code == 0
    assert (
        out
        == GEMMA_PROMPT
        + f"-- {len(ids)} tokens (special tokens parsed, no BOS added):\n"
        + " ".join(map(str, ids))
        + "\n"
    )


def test_without_a_tokenizer_the_prompt_still_shows(gemma_gguf, no_tokenizer, capsys):
    code, out, err = _run(capsys, gemma_gguf, "--no-generation-prompt")
    assert code == 0
    assert out == GEMMA_PROMPT.removesuffix("<start_of_turn>model\n") + "-- no token ids: no tokenizer here\n"
    code, out, err = _run(capsys, gemma_gguf, "--json")
    assert json.loads(out) == {"prompt": GEMMA_PROMPT, "ids": None}
    assert err == "irpa: note: no token ids: no tokenizer here\n"


def test_ids_from_the_files_own_tokenizer(tmp_path, capsys):
    """No stand-in: the file's tokenizer (irpa_core.tokenizer). A vocabulary
    that cannot spell the prompt leaves the prompt shown, without ids."""
    tokens = [*TOKENS, "▁", *(f"<0x{b:02X}>" for b in range(256))]
    types = [*TYPES, 1, *([6] * 256)]
    g = _gguf(tmp_path / "g.gguf", default=GEMMA)
    full = make_gguf(tmp_path / "full.gguf", {"w": np.ones(2, np.float32)}, {
        "tokenizer.ggml.model": "llama", "tokenizer.ggml.tokens": tokens, "tokenizer.ggml.token_type": types,
        "tokenizer.ggml.scores": [0.0] * len(tokens), "tokenizer.ggml.bos_token_id": 2,
        "tokenizer.ggml.eos_token_id": 1, "tokenizer.ggml.add_bos_token": True, "tokenizer.chat_template": GEMMA,
    })  # fmt: skip
    code, out, err = _run(capsys, full, "--json")
    ids = json.loads(out)["ids"]
    assert code == 0 and err == "" and ids[:2] == [2, 4]  # one BOS, then <start_of_turn>
    assert (ids.count(2), ids.count(4), ids.count(5)) == (1, 4, 3)
    code, out, err = _run(capsys, g, "--json")
    assert code == 0 and json.loads(out) == {"prompt": GEMMA_PROMPT, "ids": None}
    assert err.startswith("irpa: note: no token ids: cannot tokenize the prompt: ")


def test_messages_from_a_file_and_stdin(gemma_gguf, no_tokenizer, tmp_path, capsys, monkeypatch):
    conv = [{"role": "user", "content": "Hi"}]
    f = tmp_path / "m.json"
    f.write_text(json.dumps(conv))
    expected = "<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n"
    code, out, _ = _run(capsys, gemma_gguf, "--messages", f, "--json")
    assert code == 0 and json.loads(out)["prompt"] == expected
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps({"messages": conv, "tools": [{"name": "x"}]})))
    code, out, _ = _run(capsys, gemma_gguf, "--messages=-", "--name=chatml", "--json")
    assert code == 0 and json.loads(out)["prompt"] == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"


def test_messages_object_passes_tools_and_variables(tmp_path, no_tokenizer, capsys):
    g = _gguf(tmp_path / "t.gguf", default="{{ tools[0].name }} {{ enable_thinking }} {{ messages[0].content }}")
    f = tmp_path / "m.json"
    f.write_text(json.dumps({"messages": [{"role": "user", "content": "Q"}], "tools": [{"name": "calc"}],
                             "enable_thinking": False}))  # fmt: skip
    code, out, _ = _run(capsys, g, f"--messages={f}", "--json")
    assert code == 0 and json.loads(out)["prompt"] == "calc False Q"


@pytest.mark.parametrize(
    "content, error",
    [
        ("[{]", "--messages={f}: not JSON: "),
        ('{"msgs": []}', "--messages={f}: expected a list of messages or an object with 'messages'"),
        ('[{"role": "user"}, {"content": "x"}]', "--messages={f}: message 2 is not an object with a string 'role'"),
    ],
)
def test_bad_messages_are_one_line_errors(gemma_gguf, no_tokenizer, tmp_path, capsys, content, error):
    f = tmp_path / "m.json"
    f.write_text(content)
    code, out, err = _run(capsys, gemma_gguf, "--messages", f)
    assert code == 1 and out == "" and err.startswith("irpa: error: " + error.format(f=f))
    assert err.count("\n") == 1


def test_named_templates_and_missing_ones(gemma_gguf, tmp_path, no_tokenizer, capsys):
    code, _, err = _run(capsys, gemma_gguf, "--name=tool_use")
    assert code == 1
    assert err == (
        f"irpa: error: {gemma_gguf}: has no chat template named 'tool_use': "
        "no key tokenizer.chat_template.tool_use (it has: chatml)\n"
    )
    bare = _gguf(tmp_path / "bare.gguf")
    code, _, err = _run(capsys, bare)
    assert code == 1 and err == f"irpa: error: {bare}: has no chat template (no key tokenizer.chat_template)\n"


def test_template_error_names_file_key_line_and_column(tmp_path, no_tokenizer, capsys):
    g = _gguf(
        tmp_path / "bad.gguf",
        default="{% for m in messages %}\n{{ m.content }}\n{{ raise_exception('No system') }}{% endfor %}",
    )
    code, out, err = _run(capsys, g)
    assert code == 1 and out == ""
    assert err == f"irpa: error: {g}: tokenizer.chat_template: line 3, column 4: raise_exception: No system\n"


def test_unsafe_template_is_not_rendered(tmp_path, no_tokenizer, capsys):
    g = _gguf(tmp_path / "evil.gguf", default="{% if false %}{{ cycler.__init__.__globals__ }}{% endif %}hi")
    code, out, err = _run(capsys, g)
    assert code == 1 and out == ""
    assert "line 1, column 25: unsafe, not rendered: '__init__' reaches Python internals" in err
    assert "(and 1 more); irpa template --audit lists all" in err


def test_audit_exit_status_and_json(gemma_gguf, tmp_path, fake_tokenizer, capsys):
    code, out, _ = _run(capsys, gemma_gguf, "--audit")
    assert code == 0
    assert out.startswith(f"{gemma_gguf}: tokenizer.chat_template\n  warning  bos")
    assert out.endswith("1 warning, 1 note\n")
    evil = _gguf(tmp_path / "evil.gguf", default="{{ bos_token }}\u202e{{ ''.__class__ }}")
    code, out, _ = _run(capsys, evil, "--audit", "--json")
    doc = json.loads(out)
    assert code == 1 and doc["unsafe"] is True and doc["vocabulary_checked"] is True
    assert doc["template"] == f"{evil}: tokenizer.chat_template"
    assert [(f["severity"], f["check"], f["line"], f["column"]) for f in doc["findings"]][:3] == [
        ("unsafe", "invisible", 1, 16),
        ("unsafe", "sandbox", 1, 23),
        ("unsafe", "render", 1, 23),
    ]
    assert doc["findings"][0]["evidence"] == "U+202E RIGHT-TO-LEFT OVERRIDE"
    code, out, _ = _run(capsys, evil, "--audit")
    assert code == 1 and out.endswith("\n3 unsafe\n")


def test_audit_without_tokenizer_notes_it(gemma_gguf, no_tokenizer, capsys):
    code, out, err = _run(capsys, gemma_gguf, "--audit")
    assert code == 0 and out.endswith("no findings\n")
    assert err == "irpa: note: vocabulary not checked: no tokenizer here\n"


def test_control_characters_are_escaped_in_human_output_only(tmp_path, no_tokenizer, capsys):
    g = _gguf(tmp_path / "esc.gguf", default="{{ '\\x1b[31mred\\u202e' }}{{ messages[0].content }}")
    code, out, _ = _run(capsys, g)
    assert out.startswith("\\e[31mred\\u202eHello!\n\\ No newline at end of prompt\n")
    code, out, _ = _run(capsys, g, "--json")
    assert code == 0 and json.loads(out)["prompt"] == "\x1b[31mred\u202eHello!"


def test_template_file_checks_a_fix_with_the_files_vocabulary(tmp_path, no_tokenizer, capsys):
    bare = _gguf(tmp_path / "bare.gguf")
    fix = tmp_path / "fix.jinja"
    fix.write_text(GEMMA)
    code, out, _ = _run(capsys, bare, f"--template-file={fix}", "--json")
    assert code == 0 and json.loads(out)["prompt"] == GEMMA_PROMPT
    code, out, _ = _run(capsys, bare, f"--template-file={fix}", "--audit")
    assert code == 0 and out.startswith(f"{fix}\n")
    code, _, err = _run(capsys, bare, f"--template-file={tmp_path / 'none.jinja'}")
    assert code == 1 and "--template-file=" in err and "cannot read" in err


def test_print_template_as_it_is(gemma_gguf, capsys):
    code, out, _ = _run(capsys, gemma_gguf, "--print-template")
    assert code == 0 and out == GEMMA
    code, out, _ = _run(capsys, gemma_gguf, "--print-template", "--name=chatml", "--json")
    assert json.loads(out) == {"template": f"{gemma_gguf}: tokenizer.chat_template.chatml", "text": CHATML}


def test_print_template_on_a_terminal_shows_control_and_bidi_escaped(tmp_path, capsys, monkeypatch):
    hostile = "{{ bos_token }}\u202e\n[b]\x1b[2J"
    p = _gguf(tmp_path / "h.gguf", default=hostile)
    code, out, _ = _run(capsys, p, "--print-template")
    assert code == 0 and out == hostile  # into a file or pipe: as it is
    monkeypatch.setattr("sys.stdout.isatty", lambda: True, raising=False)
    code, out, _ = _run(capsys, p, "--print-template")
    assert code == 0 and out == "{{ bos_token }}\\u202e\n[b]\\e[2J"


# ---------------------------------------------------------------------------
# A Hugging Face checkpoint: tokenizer_config.json beside the safetensors


def _hf(tmp_path, config: dict, special: dict | None = None):
    d = tmp_path / "hf"
    d.mkdir()
    make_safetensors(d / "model.safetensors", {"w": np.ones(2, np.float32)})
    (d / "tokenizer_config.json").write_text(json.dumps(config))
    if special is not None:
        (d / "special_tokens_map.json").write_text(json.dumps(special))
    return d / "model.safetensors"


def test_hf_template_and_special_tokens(tmp_path, no_tokenizer, capsys):
    """The config's chat_template; BOS from special_tokens_map.json (an
    AddedToken object), the other named tokens passed as transformers does."""
    template = "{{ bos_token }}|{{ eos_token }}|{{ unk_token }}|{{ messages | length }}"
    st = _hf(tmp_path, {"chat_template": template, "eos_token": "</s>"},
             {"bos_token": {"content": "<s>", "lstrip": False}, "unk_token": "<unk>"})  # fmt: skip
    code, out, _ = _run(capsys, st, "--json")
    assert code == 0 and json.loads(out)["prompt"] == "<s>|</s>|<unk>|3"


def test_hf_named_templates_list(tmp_path, no_tokenizer, capsys):
    st = _hf(tmp_path, {"chat_template": [{"name": "default", "template": "D{{ messages|length }}"},
                                          {"name": "tool_use", "template": "T"}]})  # fmt: skip
    assert _run(capsys, st, "--json")[1] == '{\n "prompt": "D3",\n "ids": null\n}\n'
    assert json.loads(_run(capsys, st, "--name=tool_use", "--json")[1])["prompt"] == "T"
    code, _, err = _run(capsys, st, "--name=rag")
    assert code == 1 and "has no chat template named 'rag' (it has: tool_use)" in err


def test_hf_chat_template_jinja_file_wins(tmp_path, no_tokenizer, capsys):
    st = _hf(tmp_path, {"chat_template": "old"})
    (st.parent / "chat_template.jinja").write_text("new")
    assert json.loads(_run(capsys, st, "--json")[1])["prompt"] == "new"


def test_hf_without_template_or_with_a_broken_config(tmp_path, no_tokenizer, capsys):
    st = _hf(tmp_path, {"bos_token": "<s>"})
    code, _, err = _run(capsys, st)
    assert code == 1 and err == (
        f"irpa: error: {st.parent / 'tokenizer_config.json'}: has no chat template (no chat_template key, "
        "no chat_template.jinja)\n"
    )
    (st.parent / "tokenizer_config.json").write_text("{not json")
    code, _, err = _run(capsys, st)
    assert code == 1 and f"{st.parent / 'tokenizer_config.json'}: cannot read: " in err


def test_irpa_archive_keeps_the_template_in_its_dataset_entry(gemma_gguf, tmp_path, no_tokenizer, capsys):
    irpa = tmp_path / "gemma.irpa"
    assert main(["convert", str(gemma_gguf), "-o", str(irpa), "--quiet"]) == 0
    capsys.readouterr()
    code, out, _ = _run(capsys, irpa, "--json")
    assert code == 0 and json.loads(out)["prompt"] == GEMMA_PROMPT


def test_only_the_chat_template_package_imports_jinja2():
    import pathlib
    import re

    root = pathlib.Path(template_cli.__file__).parents[1]
    importers = {
        str(p.relative_to(root))
        for p in root.rglob("*.py")
        if re.search(r"^\s*(import|from) jinja2\b", p.read_text(encoding="utf-8"), re.M)
    }
    assert importers and all(p.startswith("chat_template/") for p in importers)

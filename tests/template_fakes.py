"""Small chat templates in the style of real ones, and a tiny vocabulary,
for the chat template tests (no tokenizer needed)."""

from __future__ import annotations

from dataclasses import dataclass, field

# ChatML (Qwen style): no BOS, <|im_start|>/<|im_end|> turns.
CHATML = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

# Gemma style (one line, as Google writes it): BOS from the variable, no
# system role, roles must alternate.
GEMMA = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}"
    "{{ raise_exception('System role not supported') }}{% endif %}"
    "{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}"
    "{% endif %}{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{'<start_of_turn>model\\n'}}{% endif %}"
)

# Llama 3 style with a dated system header (strftime_now) and tools as JSON.
LLAMA3 = """{{- bos_token }}
{%- if strftime_now is defined %}{% set date_string = strftime_now("%d %b %Y") %}
{%- else %}{% set date_string = "26 Jul 2024" %}{% endif %}
{{- "<|start_header_id|>system<|end_header_id|>\\n\\n" }}
{{- "Today Date: " + date_string + "\\n" }}
{%- if tools is not none %}
    {%- for t in tools %}{{- t | tojson(indent=4) }}{{- "\\n\\n" }}{%- endfor %}
{%- endif %}
{{- "<|eot_id|>" }}
{%- for message in messages %}
    {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' }}
{%- endfor %}
{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}
"""

# Mistral [INST] style: BOS and EOS as text, assistant turns close with EOS.
MISTRAL = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token }}"
    "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}"
    "{% endfor %}"
)

CONTROL, NORMAL, USER_DEFINED, UNUSED = 3, 1, 4, 5


@dataclass
class FakeVocab:
    """The members ``audit`` reads, over a list of (piece, type)."""

    tokens: list[tuple[str, int]]
    bos_id: int | None = None
    eos_id: int | None = None
    eot_id: int | None = None
    add_bos: bool = False
    ids: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.ids = {p: i for i, (p, _) in enumerate(self.tokens)}

    @property
    def n_vocab(self) -> int:
        return len(self.tokens)

    def token_id(self, piece: str) -> int | None:
        return self.ids.get(piece)

    def piece(self, token_id: int) -> str:
        return self.tokens[token_id][0]

    def token_type(self, token_id: int) -> int:
        return self.tokens[token_id][1]

    def encode(self, text: str, *, add_special: bool = True, parse_special: bool = True) -> list[int]:
        """Greedy longest match on the pieces, one id per unknown character
        (0): enough to see which ids a prompt becomes."""
        out = [self.bos_id] if add_special and self.add_bos and self.bos_id is not None else []
        i = 0
        pieces = sorted(self.ids, key=len, reverse=True)
        while i < len(text):
            for p in pieces:
                if p and text.startswith(p, i):
                    out.append(self.ids[p])
                    i += len(p)
                    break
            else:
                out.append(0)
                i += 1
        return out


def gemma_vocab(**kw) -> FakeVocab:
    tokens = [("<pad>", CONTROL), ("<eos>", CONTROL), ("<bos>", CONTROL), ("<unk>", 2),
              ("<start_of_turn>", CONTROL), ("<end_of_turn>", CONTROL), ("user", NORMAL), ("model", NORMAL),
              ("\n", USER_DEFINED), ("Hello", NORMAL)]  # fmt: skip
    args = {"bos_id": 2, "eos_id": 1, "add_bos": True, **kw}
    return FakeVocab(tokens, **args)


def chatml_vocab(**kw) -> FakeVocab:
    tokens = [("<|endoftext|>", CONTROL), ("<|im_start|>", CONTROL), ("<|im_end|>", CONTROL), ("user", NORMAL),
              ("assistant", NORMAL), ("\n", NORMAL)]  # fmt: skip
    args = {"eos_id": 2, **kw}
    return FakeVocab(tokens, **args)

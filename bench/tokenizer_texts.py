"""Texts for comparing tokenizers and timing them (shared by
``tokenizer_oracle.py`` and ``bench_tokenize.py``): scripts, whitespace
runs, emoji, code, numbers, and the vocabulary's own special tokens."""

from __future__ import annotations

import os
import random

SCRIPTS = [
    "Hello world", " Hello World!", "Hello, y'all! How're you? I'd've said 'no'.", "THE QUICK BROWN FOX'S JUMP",
    "нещо на Български: Съединение прави силата", "Ελληνικά: Καλημέρα κόσμε", "العربية: مرحبا بالعالم",
    "עברית: שלום עולם", "हिन्दी: नमस्ते दुनिया", "ภาษาไทย: สวัสดีชาวโลก", "中文：你好，世界！我想在apple工作1314151天～",
    "日本語：こんにちは世界、カタカナ、ﾊﾝｶｸ", "한국어: 안녕하세요 세계", "Tiếng Việt: Xin chào thế giới",
    "Ünïcödé àccénts: naïve café façade Ångström", "ﬁligree ﬂow Ｆｕｌｌｗｉｄｔｈ １２３", "ǅemal Ǆ ǈ",
    "ကမ္ဘာ မင်္ဂလာပါ", "ქართული ენა", "Հայերեն լեզու", "አማርኛ ቋንቋ", "ᏣᎳᎩ ᎦᏬᏂᎯᏍᏗ", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕄𝕒𝕥𝕙",
]  # fmt: skip
WHITESPACE = [
    "", " ", "  ", "   ", "\t", "\n", "\n\n", "\n\n\n", "\t\n", " \n \n ", "a  b   c    d", "   leading",
    "trailing   ", "\r\n\r\nwindows\r\n", "tab\tseparated\tvalues", "nbsp\u00a0here", "ideographic\u3000space",
    "thin\u2009space\u200bzero width", "line\u2028separator", "mixed \t \n \u3000 \u00a0 end", "x" + " " * 40 + "y",
    "\n" * 12 + "z", "    Hello\n    Hello", "\v\f vertical tab and form feed",
]  # fmt: skip
EMOJI = [
    "🦙 llama", "🚀 (normal) 😶\u200d🌫️ (multiple emojis concatenated) ✅ (only emoji that has its own token)",
    "👨\u200d👩\u200d👧\u200d👦 family", "🇫🇷🇯🇵 flags", "👍🏽 skin tone", "❤️‍🔥", "😀😃😄😁😆😅😂🤣", "🫠🫨🪿",
    "a🦙b🦙c", "©®™ ℃ № ☃ ♥",
]  # fmt: skip
CODE = [
    "def f(x):\n    return x ** 2  # square\n",
    'int main(void) {\n\tprintf("%d\\n", 42);\n\treturn 0;\n}\n',
    '{"key": [1, 2.5, -3e10, null, true], "nested": {"a": "b"}}',
    "<html><body><div class=\"x\">&amp; &lt;tag&gt;</div></body></html>",
    "SELECT * FROM t WHERE a >= 10 AND b <> 'x';", "x += 1; y -= 2; z *= 3; w /= 4; v %= 5; u **= 6",
    "fn main() -> Result<(), Box<dyn Error>> { Ok(()) }", "$ ls -la | grep '^d' && echo \"done\" || exit 1",
    "https://example.com/path?q=1&r=%20#frag", "C:\\Users\\name\\file.txt", "a_b-c.d/e\\f|g~h`i^j",
    "=== ---- ____ **** //// \\\\\\\\ ....", "3", "33", "333", "3333", "33333", "333333", "1234567890",
    "3.14159 2,718 1e-5 0x1F 0b101 1_000_000", "w048 7tuijk dsdfhu", "' era", " (", "\n =",
]  # fmt: skip


def texts(specials: list[str], seed: int = 0) -> list[str]:
    """The comparison set: everything above, each special token alone,
    inside text and beside whitespace, and random mixes."""
    base = SCRIPTS + WHITESPACE + EMOJI + CODE
    out = list(base)
    rng = random.Random(seed)
    for s in specials:
        out += [s, f"{s}user\nHello!{s}", f" {s} ", f"\n{s}\n\n", f"text{s}{s}more", f"{s}  x"]
    for _ in range(40):
        parts = rng.sample(base, 3) + rng.sample(specials, min(2, len(specials)))
        rng.shuffle(parts)
        out.append(rng.choice(["", " ", "\n"]).join(parts))
    return out


def bench_text(size: int = 100_000) -> str:
    """About ``size`` bytes of mixed text: this repository's README and
    design notes (prose), its Python source (code), and the samples above."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    chunks = []
    for rel in ("README.md", "irpa_core/plan.py", "irpa_core/formats/gguf.py", "irpa_core/summary.py"):
        try:
            with open(os.path.join(root, rel), encoding="utf-8") as f:
                chunks.append(f.read())
        except OSError:
            pass
    chunks.append("\n".join(SCRIPTS + WHITESPACE + EMOJI + CODE) * 4)
    text = "\n".join(chunks)
    while len(text.encode()) < size:
        text += "\n" + text
    data = text.encode()[:size]
    return data.decode("utf-8", "ignore")


def fuzz(pieces: list[str], specials: list[str], n: int, seed: int = 1) -> list[str]:
    """``n`` random texts: runs of vocabulary pieces (their ▁/Ġ as spaces),
    random characters from many blocks, whitespace and special tokens."""
    rng = random.Random(seed)
    blocks = [(0x20, 0x7E), (0xA0, 0x24F), (0x370, 0x3FF), (0x400, 0x4FF), (0x590, 0x6FF), (0x900, 0x97F),
              (0xE00, 0xE7F), (0x1100, 0x11FF), (0x2000, 0x206F), (0x3000, 0x30FF), (0x4E00, 0x4FFF),
              (0xAC00, 0xACFF), (0xFF00, 0xFFEF), (0x1F300, 0x1FAFF), (0x10000, 0x1007F), (0x0, 0x1F)]  # fmt: skip
    out = []
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(1, 12)):
            r = rng.random()
            if r < 0.45 and pieces:
                parts.append(rng.choice(pieces).replace("\u2581", " ").replace("\u0120", " "))
            elif r < 0.75:
                lo, hi = rng.choice(blocks)
                parts.append("".join(chr(rng.randint(lo, hi)) for _ in range(rng.randint(1, 6))))
            elif r < 0.9:
                parts.append(rng.choice([" ", "  ", "\n", "\t", "\r\n", "   \n ", "\u3000", "\xa0"]))
            elif specials:
                parts.append(rng.choice(specials))
        out.append("".join(parts).replace("\ud800", ""))
    return [t for t in out if not any(0xD800 <= ord(c) <= 0xDFFF for c in t)]

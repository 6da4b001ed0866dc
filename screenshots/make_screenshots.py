"""Regenerate the SVG screenshots shown in README (``make screenshots``).

Each screen is driven with the real keys on the seeded demo archive, at a
fixed size, and saved as ``screenshots/NAME.svg``. Every run writes the same
files: the write screen runs on a steady clock (its times and rates are not
the machine's), so ``git status`` shows only what a change of the app made.
"""

import asyncio
import os
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from irpa_core.demo import make_demo  # noqa: E402
from irpa_tui.app import IrpaApp  # noqa: E402
from tests.fixtures import BROKEN_CHAT_TEMPLATE, converted_model, make_chat_gguf, make_model_gguf  # noqa: E402
from tests.tui.helpers import MARK_KEYS, settle, wait_until  # noqa: E402

WORK = "/tmp/irpa-screenshots"
SIZE = (140, 40)
# A chat template in the style models ship (written for this screenshot).
CHAT = (
    "{{ bos_token }}{% for message in messages %}"
    "<start_of_turn>{{ 'model' if message['role'] == 'assistant' else message['role'] }}\n"
    "{{ message['content'] | trim }}<end_of_turn>\n"
    "{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)


def steady_clock(seconds: float = 1.5):
    """0 when the write starts, ``seconds`` at every later look: the finished
    write shows the same time and rates on every run."""
    later = iter([0.0])
    return lambda: next(later, seconds)


class ShotApp(IrpaApp):
    """The app, its writes on ``steady_clock`` (the keys still start them)."""

    CSS_PATH = str(Path(sys.modules[IrpaApp.__module__].__file__).with_name(IrpaApp.CSS_PATH))  # not relative to here

    def start_write(self, targets, output, alignment=64, **kw):
        super().start_write(targets, output, alignment, clock=steady_clock(), **kw)


async def shot(name, path, keys=(), after=None, size=SIZE):
    from irpa_tui.stats_cache import CACHE

    CACHE.clear()  # each shot as a fresh start ("cached" only when it is)
    app = ShotApp([path])
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        for k in keys:
            if k == "_":
                await settle(pilot)
            else:
                await pilot.press(k)
        await settle(pilot)
        if after:
            await after(pilot)
            await settle(pilot)
        app.save_screenshot(str(HERE / f"{name}.svg"))
    print("wrote", HERE / f"{name}.svg")


async def compare_shot():
    """The compare screen: a checkpoint against its Q4_0 conversion, one
    tensor scaled by 1.5 and one left out (as the compare tests build them)."""
    from irpa_tui.screens.compare import CompareScreen
    from irpa_tui.stats_cache import CACHE

    d = Path(WORK) / "compare"
    st, g = converted_model(d, "model-q4_0.gguf")
    CACHE.clear()
    app = ShotApp([], diff=(str(st), str(g)))
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, CompareScreen) and app.screen.view is not None)
        screen = app.screen
        # The pane's figures start once the cursor rests: shown when they are all there.
        await wait_until(pilot, lambda: screen._stats is not None and screen._stats[3] and screen._diff is not None)
        await settle(pilot)
        app.save_screenshot(str(HERE / "compare.svg"))
        await pilot.press("l")
        await settle(pilot)
        app.save_screenshot(str(HERE / "compare-layers.svg"))
    print("wrote", HERE / "compare.svg", HERE / "compare-layers.svg")


async def main():
    shutil.rmtree(WORK, ignore_errors=True)
    path = str(make_demo(WORK))
    down = ["down"] * 3
    # A gemma-like GGUF: 262,144-token vocabulary, 18 blocks, a K-quant mix.
    model = str(make_model_gguf(os.path.join(WORK, "gemma-like.gguf"), vocab=262_144, blocks=18, width=64))
    await shot("main", path, down)
    await shot("narrow", path, down, size=(80, 40))
    await shot("filter", path, ["slash", *"blk.1 dtype:bf16", "_"])
    await shot("tree", path, ["t", "z", "down", "right"])
    await shot("metadata", model, ["m", "slash", *"[/INST]", "enter", "_"])
    # A small model with a chat template, edited in the metadata screen.
    chat = str(make_model_gguf(os.path.join(WORK, "chat.gguf"), extra_kv={"tokenizer.chat_template": CHAT}))
    edit = ["m", "slash", *"template", "enter", "_", "e", "_", "down", "down", "end", *" {# fixed #}"]
    await shot("metadata-editor", chat, edit)
    # The tokenizer screen on a small Gemma-style vocabulary: a search, a
    # text tokenized as typed, the template's audit and prompt.
    tokens = str(make_chat_gguf(os.path.join(WORK, "tokens.gguf")))
    await shot("tokenizer", tokens, ["k", "_", "t", *"Hello! What is the capital", "escape", "slash", *" ca", "enter"])
    # A template that does not parse: its error at its line and column.
    broken = str(make_chat_gguf(os.path.join(WORK, "broken-template.gguf"), BROKEN_CHAT_TEMPLATE))
    await shot("template-error", broken, ["k", "_"], size=(100, 24))
    await shot("summary", model, ["i"])
    await shot("heatmap", path, ["down", "down", "down", "h", "_", "right", "right", "down"], size=(100, 32))

    async def scanned(pilot):
        await pilot.press("S")
        await wait_until(pilot, lambda: "scanned" in str(pilot.app.screen.query_one("#plan-bar").render()))
        for _ in range(4):  # file -> name -> size -> dtype -> std
            await pilot.press("o")
        await pilot.press("end", *["up"] * 8)  # the constant norms (std 0) are last: flagged

    await shot("scan", model, after=scanned)
    await shot("help", path, ["question_mark"])
    await shot("marks", path, MARK_KEYS)
    await shot("splat-dialog", path, ["down", "down", "s", *"f32=abc"])
    write = ["slash", *"ffn", "enter", "x", "w", "_", "ctrl+u", *f"{WORK}/demo.repro.gguf"]
    await shot("write-dialog", path, [*write, "tab", "tab", "tab", *"2M"])  # split in shards of 2 MB
    await shot("rename-dialog", path, ["slash", *"blk.", "enter", "r", *r"re:blk\.(\d+)\.", "tab", *r"layers.\1."])
    out = os.path.join(WORK, "demo.stripped.irpa")

    async def write_and_verify(pilot):
        await pilot.press("slash", *"ffn_", "enter", "x", "w", "ctrl+u", *out, "enter")
        await wait_until(pilot, lambda: getattr(pilot.app.screen, "state", "") == "done")
        await settle(pilot)  # the footer and the log's scroll of the finished write
        pilot.app.save_screenshot(str(HERE / "write-done.svg"))
        print("wrote", HERE / "write-done.svg")
        await pilot.press("v")

    await shot("verify", path, after=write_and_verify)
    # A download cut off in its data (blk.0.ffn_up is partial): the salvage banner and state column.
    cut = os.path.join(WORK, "demo.cut.irpa")
    with open(path, "rb") as f, open(cut, "wb") as part:
        part.write(f.read(1_400_000))
    await shot("salvage", cut, ["down"] * 9)
    bad = os.path.join(WORK, "broken.gguf")
    with open(bad, "wb") as f:
        f.write(b"GGUF\x03\x00\x00\x00" + b"\xff" * 16)
    await shot("error", bad)
    await compare_shot()


if __name__ == "__main__":
    asyncio.run(main())

"""The last line of defence: no terminal control ever reaches the terminal.

Names and values from files are escaped where they are drawn
(``irpa_core.display.escape``). An editable field (a name in the rename
dialog) must hold the real characters, so this filter, applied by the app to
every line of every widget, draws what is left of C0/C1 controls, DEL and
bidi overrides as visible symbols (control pictures such as ␀ and ␛, else
�): the line keeps its width and nothing is interpreted.
"""

from __future__ import annotations

import re

from rich.segment import Segment
from textual.color import Color
from textual.filter import LineFilter

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _picture(m: re.Match) -> str:
    c = ord(m.group())
    if c < 0x20:
        return chr(0x2400 + c)  # ␀ .. ␟
    if c == 0x7F:
        return "\u2421"  # ␡
    return "\ufffd"


class ControlFilter(LineFilter):
    def apply(self, segments: list[Segment], background: Color) -> list[Segment]:
        out = segments
        for k, seg in enumerate(segments):
            if seg.control is None and _CONTROL.search(seg.text):
                if out is segments:
                    out = list(segments)
                out[k] = Segment(_CONTROL.sub(_picture, seg.text), seg.style, seg.control)
        return out

"""The tokenizer screen (``k``): the vocabulary as a table, a box that
tokenizes what is typed as it is typed, and the chat template rendered for
a sample conversation with its tokens and the audit's findings.

Everything that costs runs in thread workers and comes back as messages:
loading the tokenizer (about a second for 262,144 tokens; kept per edit
session, so the screen opens at once the second time), each search, each
encode (at most one at a time: text typed meanwhile is encoded next, so
fast typing costs one encode per pause, not per key), and the template's
preview (jinja2's sandbox, bounded by the engine). The table is a
``LineList``: only the rows on screen are drawn.

The preview renders the template the plan writes: after ``e`` (the
metadata editor, on ``tokenizer.chat_template``) and back, it re-renders
from the edited value, so a broken template can be fixed and checked
before it is written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from irpa_core.display import clip, escape, plural, shown, token_text
from irpa_core.errors import IrpaError

from ..editing import ADDED, DELETED, EDITED, EditSession
from ..keys import HELP_BINDING, show_help
from ..token_text import findings_text, id_line, spans, vocab_header, vocab_row
from ..widgets.lines import LineList

TYPE_CHECKING = False
if TYPE_CHECKING:
    from irpa_core.template_preview import Preview
    from irpa_core.tokenizer import Tokenizer
    from irpa_core.vocab_search import Query, VocabIndex

TEMPLATE_KEY = "tokenizer.chat_template"
DELETED_TEMPLATE = object()  # the plan deletes the key
SCORE_MIN_WIDTH = 56  # the table shows scores from this width
KINDS = {"spm": "SentencePiece", "bpe": "byte-level BPE", "wpm": "WordPiece", "ugm": "Unigram", "hf": "tokenizer.json"}


@dataclass
class VocabCache:
    """The loaded tokenizer of an edit session (the screen is made anew on
    each ``k``; the tokenizer is loaded once)."""

    tokenizer: Tokenizer | None = None
    index: VocabIndex | None = None
    error: str | None = None

    @property
    def done(self) -> bool:
        return self.tokenizer is not None or self.error is not None


class TokenizerScreen(Screen):
    """Vocabulary, tokenize box, chat template preview; ``escape`` back."""

    # The footer fits 80 columns; ? and the palette list every key.
    BINDINGS = [
        Binding("escape", "back", "Back", tooltip="leave the box, clear the search, else back to the table"),
        Binding("q,k", "app.pop_screen", "Back", show=False),
        Binding(
            "slash",
            "search",
            "Search",
            key_display="/",
            tooltip="search the vocabulary: text (▁/Ġ for spaces too), /regex/, #id or a number, type:control",
        ),
        Binding("t", "type_text", "Tokenize", key_display="t", tooltip="type a text: its tokens and ids as you type"),
        Binding(
            "e",
            "edit_template",
            "Edit template",
            key_display="e",
            tooltip="edit tokenizer.chat_template in the metadata editor (e there); back here, it re-renders",
        ),
        Binding("c", "template", "Template", key_display="c", show=False, tooltip="scroll to the chat template"),
        Binding("tab", "app.focus_next", "Next pane", show=False),
        HELP_BINDING,
    ]

    @dataclass
    class Loaded(Message):
        """The tokenizer is loaded, or could not be (the cache holds it)."""

    @dataclass
    class Indexed(Message):
        """The vocabulary is ready to search (the cache holds it)."""

    @dataclass
    class Found(Message):
        query: Query

    @dataclass
    class Encoded(Message):
        text: str
        ids: list[int] | None
        error: str | None = None

    @dataclass
    class Previewed(Message):
        key: object
        preview: Preview | None
        error: str | None = None

    def __init__(
        self,
        session: EditSession,
        cache: VocabCache,
        on_edit: Callable[[], None] | None = None,
        save_plan: Callable[[], None] | None = None,
    ):
        """``cache``: the session's tokenizer (filled here the first time);
        ``on_edit``/``save_plan``: the main screen's, for the metadata editor."""
        super().__init__()
        self.session = session
        self.cache = cache
        self.on_edit = on_edit
        self.save_plan = save_plan
        self.rows: list[int] | None = None  # the search's ids (None: every id)
        self.query_text = ""
        self._searching: str | None = None
        self._encoding: str | None = None  # the text being encoded
        self.ids: list[int] | None = None  # the tokenize box's last ids
        self.preview: Preview | None = None
        self._preview_key: object = None  # the template the preview shows (or is computing)
        self._preview_error: str | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="tok-title")
        with Horizontal(id="tok-main"):
            with Vertical(id="tok-vocab"):
                yield Input(placeholder="search: text, /regex/, #id, type:control", id="tok-search")
                yield LineList(self._line, header=Text(""), cursor=True, id="tok-table")
            with VerticalScroll(id="tok-side"):
                yield Static(Text("Tokenize (t): tokens as you type", style="bold"), classes="tok-head")
                yield Input(placeholder="type a text to tokenize", id="tok-input")
                yield Static(id="tok-spans")
                yield Static(id="tok-template")
        yield Footer()

    @property
    def table(self) -> LineList:
        return self.query_one("#tok-table", LineList)

    def on_mount(self) -> None:
        self.table.focus()
        self._title()
        self._show_spans()
        if self.cache.done:
            self._filled()
        else:
            self.run_worker(self._load, thread=True, exclusive=True, group="tok-load")
            self.query_one("#tok-template", Static).update(Text("loading the tokenizer…", style="dim"))

    def on_screen_resume(self) -> None:
        if self.cache.done:
            self._refresh_preview()  # the template may have been edited meanwhile

    # -- loading ------------------------------------------------------------

    def _load(self) -> None:
        from irpa_core.tokenizer import load_tokenizer
        from irpa_core.vocab_search import index_vocabulary

        cache = self.cache
        try:
            cache.tokenizer = load_tokenizer(self.session.archive)
        except (IrpaError, OSError, ValueError) as e:
            cache.error = str(e)
            self.post_message(self.Loaded())
            return
        self.post_message(self.Loaded())  # the table shows now; searching needs the index
        index = index_vocabulary(cache.tokenizer)
        index.warm()  # the first search as quick as the next
        cache.index = index
        self.post_message(self.Indexed())

    def on_tokenizer_screen_loaded(self, _msg: Loaded) -> None:
        self._filled()

    def on_tokenizer_screen_indexed(self, _msg: Indexed) -> None:
        if self.query_text.strip():
            self._search(self.query_text)  # typed while the index was being built

    def _filled(self) -> None:
        self._title()
        self._show_spans()
        self._set_rows(None)
        self._refresh_preview()
        box = self.query_one("#tok-input", Input)
        if box.value:
            self._encode(box.value)

    def _title(self) -> None:
        t = Text("Tokenizer", style="bold")
        tok, cache = self.cache.tokenizer, self.cache
        if cache.error is not None:
            t.append("  " + shown(cache.error, 300), "red")
        elif tok is None:
            t.append("  loading…", "dim")
        else:
            kind = KINDS.get(tok.kind, tok.kind) + (f" ({escape(tok.pre)})" if tok.pre else "")
            t.append(f"  {kind}, {plural(tok.n_vocab, 'token')}")
            for label, tid in (("BOS", tok.bos_id), ("EOS", tok.eos_id)):
                if tid is not None:
                    t.append(f"; {label} {tid} {clip(token_text(tok.piece(tid)), 30)}")
            added = [x for x, on in (("BOS", tok.add_bos), ("EOS", tok.add_eos)) if on]
            t.append(f"; adds {' and '.join(added) if added else 'nothing'}", "dim")
        self.query_one("#tok-title", Static).update(t)

    # -- the vocabulary table -------------------------------------------------

    def _id_width(self) -> int:
        return max(2, len(str(max(0, (self.cache.tokenizer.n_vocab if self.cache.tokenizer else 1) - 1))))

    def _with_score(self) -> bool:
        tok = self.cache.tokenizer
        return tok is not None and tok.score(0) is not None and self.table.size.width >= SCORE_MIN_WIDTH

    def _line(self, r: int) -> Text:
        tok = self.cache.tokenizer
        if tok is None:
            return Text("")
        token_id = self.rows[r] if self.rows is not None else r
        return vocab_row(tok, token_id, self._id_width(), self._with_score())

    def _set_rows(self, rows: list[int] | None, cursor: int = 0) -> None:
        tok = self.cache.tokenizer
        self.rows = rows
        n = 0 if tok is None else tok.n_vocab if rows is None else len(rows)
        table = self.table
        table.set_count(n, reset=True)
        self._header()
        if cursor:
            table.cursor_row = row = min(cursor, max(0, n - 1))
            # The row in the middle (the jump's target, with what is around it).
            middle = max(0, row - table.scrollable_content_region.height // 2)
            table.scroll_to(y=middle, animate=False, immediate=True, force=True)

    def _header(self, note: Text | None = None) -> None:
        tok = self.cache.tokenizer
        head = vocab_header(self._id_width(), self._with_score())
        head.stylize("bold")
        if tok is not None and self.rows is not None:
            head.append(f"   {len(self.rows):,} of {tok.n_vocab:,}", "yellow")
        if note is not None:
            head.append("   ")
            head.append_text(note)
        self.table.header = head
        self.table.refresh()

    def on_resize(self) -> None:
        self._header()

    # -- search ---------------------------------------------------------------

    def action_search(self) -> None:
        self.query_one("#tok-search", Input).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "tok-search":
            self._search(event.value)
        elif event.input.id == "tok-input":
            self._encode(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "tok-search":
            self.table.focus()

    def _search(self, text: str) -> None:
        self.query_text = text
        index = self.cache.index
        if not text.strip():
            self._searching = None
            self._set_rows(None)
            return
        self._searching = text
        if index is None:
            self._header(Text("indexing the vocabulary…", "dim"))
            return  # searched once the index is ready

        def work() -> None:
            self.post_message(self.Found(index.search(text)))

        self.run_worker(work, thread=True, exclusive=True, group="tok-search")

    def on_tokenizer_screen_found(self, msg: Found) -> None:
        q = msg.query
        if q.text != self.query_text:
            return  # a newer search is on its way
        self._searching = None
        box = self.query_one("#tok-search", Input)
        box.set_class(q.error is not None, "-invalid")
        if q.error is not None:
            self._header(Text(q.error, "red"))
            return
        if q.jump is not None:
            self._set_rows(None, q.jump)
            self._header(Text(f"id {q.jump:,}", "yellow"))
            return
        self._set_rows(q.ids)
        if not q.ids:
            self._header(Text(f"no piece holds {clip(escape(q.text.strip()), 40)}", "red"))

    # -- tokenize as you type ---------------------------------------------------

    def action_type_text(self) -> None:
        self.query_one("#tok-input", Input).focus()

    def _encode(self, text: str) -> None:
        tok = self.cache.tokenizer
        if tok is None:
            self._show_spans()
            return
        if self._encoding is not None:
            return  # the encode running ends by encoding the box's text again
        self._encoding = text

        def work() -> None:
            try:
                self.post_message(self.Encoded(text, tok.encode(text)))
            except Exception as e:  # (an engine bug must not take the app down with it)
                self.post_message(self.Encoded(text, None, f"cannot tokenize it: {e}"))

        self.run_worker(work, thread=True, group="tok-encode")

    def on_tokenizer_screen_encoded(self, msg: Encoded) -> None:
        self._encoding = None
        current = self.query_one("#tok-input", Input).value
        if msg.text != current:
            self._encode(current)  # typed meanwhile: encode the latest
            return
        self.ids = msg.ids
        self._show_spans(msg.error)

    def _show_spans(self, error: str | None = None) -> None:
        out = self.query_one("#tok-spans", Static)
        tok = self.cache.tokenizer
        if error is not None:
            out.update(Text(shown(error, 300), "red"))
        elif tok is None:
            out.update(Text(""))
        elif self.ids is None or not self.query_one("#tok-input", Input).value:
            what = "BOS added" if tok.add_bos else "nothing added"
            out.update(Text(f"special tokens written in the text are parsed; {what}", "dim"))
        else:
            out.update(Group(spans(tok, self.ids), id_line(tok, self.ids)))

    # -- the chat template ------------------------------------------------------

    def _edited_template(self) -> object:
        """The plan's value of the template key: its text, DELETED_TEMPLATE,
        or None (not edited: the file's own)."""
        if not self.session.plan.metadata_ops:
            return None
        state = self.session.metadata()
        status = state.status.get(TEMPLATE_KEY)
        if status == DELETED:
            return DELETED_TEMPLATE
        if status in (EDITED, ADDED):
            value = state.edited.values.get(TEMPLATE_KEY)
            return value if isinstance(value, str) else None
        return None

    def _refresh_preview(self) -> None:
        """Render the template again if the plan's changed since last time."""
        key = self._edited_template()
        if key == self._preview_key and (self.preview is not None or self._preview_error is not None):
            return
        self._preview_key = key
        archive, tok, why = self.session.archive, self.cache.tokenizer, self.cache.error or ""
        self.query_one("#tok-template", Static).update(self._template_text(rendering=True))

        def work() -> None:
            from irpa_core.chat_template import find, from_text
            from irpa_core.template_preview import preview

            try:
                if key is DELETED_TEMPLATE:
                    raise IrpaError(f"the edits delete {TEMPLATE_KEY} (u undoes it)")
                if isinstance(key, str):
                    tmpl = from_text(key, f"{TEMPLATE_KEY} (edited)", archive)
                else:
                    tmpl = find(archive)
                self.post_message(self.Previewed(key, preview(tmpl, tok, why_no_tokenizer=why)))
            except IrpaError as e:
                self.post_message(self.Previewed(key, None, str(e)))
            except Exception as e:  # a template is hostile data: whatever it does, the app stays
                self.post_message(self.Previewed(key, None, f"the preview failed: {type(e).__name__}: {e}"))

        self.run_worker(work, thread=True, exclusive=True, group="tok-preview")

    def on_tokenizer_screen_previewed(self, msg: Previewed) -> None:
        if msg.key != self._preview_key:
            return
        self.preview, self._preview_error = msg.preview, msg.error
        self.query_one("#tok-template", Static).update(self._template_text())

    def _template_text(self, rendering: bool = False) -> Group:
        head = Text("Chat template", style="bold")
        edited = isinstance(self._preview_key, str)
        head.append(" (edited, not yet written)" if edited else "", "magenta")
        head.append("  e edits it", "dim")
        if rendering:
            return Group(Text(""), head, Text("rendering…", "dim"))
        p = self.preview
        if p is None:
            why = self._preview_error or ""
            hint = f" (e, then a adds {TEMPLATE_KEY})" if f"no key {TEMPLATE_KEY}" in why else ""
            return Group(Text(""), head, Text(shown(why, 500) + hint, "yellow"))
        # The verdict first, then the prompt it is about.
        parts: list = [Text(""), head, findings_text(p.findings), Text("")]
        tok = self.cache.tokenizer
        if p.prompt is None:
            parts.append(Text(shown(p.error or "", 1000), "bold red"))
            return Group(*parts)
        parts.append(Text(f"{escape(p.where)}: the sample conversation, generation prompt on", "dim"))
        if p.ids is not None and tok is not None:
            parts += [spans(tok, p.ids), id_line(tok, p.ids)]
        else:
            parts.append(Text(escape(p.prompt).replace("\\n", "\\n\n")))
            parts.append(Text(f"no token ids: {shown(p.note or '', 300)}", "yellow"))
        return Group(*parts)

    def action_template(self) -> None:
        self.query_one("#tok-side", VerticalScroll).scroll_to_widget(self.query_one("#tok-template"), top=True)

    def action_edit_template(self) -> None:
        from .metadata import MetadataScreen

        screen = MetadataScreen(self.session.archive, self.session, self.on_edit, self.save_plan, go_to=TEMPLATE_KEY)
        self.app.push_screen(screen)

    # -- keys -------------------------------------------------------------------

    def action_back(self) -> None:
        focused = self.focused
        if isinstance(focused, Input):
            self.table.focus()
        elif self.rows is not None or self.query_text:
            self.query_one("#tok-search", Input).value = ""
        else:
            self.app.pop_screen()

    def action_help(self) -> None:
        show_help(self, "tokenizer keys (arrows, page keys, home/end move in the vocabulary)")

"""``irpa tokens``: the entries of a model's vocabulary."""

from __future__ import annotations

import re
import sys

from ..display import escape, f32, plural, token_text
from . import ArgumentParser, CliError, print_json

_ID = re.compile(r"^(\d+)(?:(?:-|\.\.|:)(\d+))?$")


def build_parser(prog: str) -> ArgumentParser:
    p = ArgumentParser(
        prog=prog,
        description="List vocabulary entries: id, type, score (or BPE merge rank) and the piece as stored, "
        "quoted, with control characters and bytes that are not UTF-8 escaped (\\n, \\xff). Without a filter, "
        "every entry.",
    )
    p.add_argument("file", metavar="FILE", help="a .gguf file (or a .safetensors with tokenizer.json beside it)")
    which = p.add_mutually_exclusive_group()
    which.add_argument(
        "--find",
        metavar="TEXT",
        help="entries whose piece contains TEXT (also with spaces written as the vocabulary writes them: ▁ or Ġ)",
    )
    which.add_argument("--id", metavar="N[-M]", help="the entry N, or N to M")
    which.add_argument(
        "--type",
        metavar="TYPE",
        help="entries of a type: normal, unknown, control, user-defined, unused, byte, undefined",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    return p


def _ids(tok, args) -> range | list[int]:
    from ..tokenizer import TYPE_NAMES

    n = tok.n_vocab
    if args.id is not None:
        m = _ID.match(args.id.strip())
        if not m:
            raise CliError(f"--id={escape(args.id)}: expected N or N-M")
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) is not None else lo
        if lo > hi or hi >= n:
            raise CliError(f"--id={escape(args.id)}: the vocabulary has ids 0 to {n - 1}")
        return range(lo, hi + 1)
    if args.type is not None:
        by_name = {v: k for k, v in TYPE_NAMES.items()}
        want = by_name.get(args.type.lower().replace("_", "-"))
        if want is None:
            raise CliError(f"--type={escape(args.type)}: expected one of {', '.join(by_name)}")
        return [i for i in range(n) if tok.token_type(i) == want]
    if args.find is not None:
        if not args.find:
            raise CliError("--find needs a text")
        from ..vocab_search import spellings

        needles = spellings(args.find)
        return [i for i in range(n) if any(x in tok.piece(i) for x in needles)]
    return range(n)


def run(args) -> int:
    from .. import open_archive
    from ..tokenizer import TYPE_NAMES, load_tokenizer

    tok = load_tokenizer(open_archive(args.file))
    ids = _ids(tok, args)
    rows = []
    for i in ids:
        score = tok.score(i)
        rank = tok.merge_rank(i) if score is None or tok.kind == "bpe" else None
        rows.append((i, tok.piece(i), TYPE_NAMES.get(tok.token_type(i), str(tok.token_type(i))), score, rank))
    if args.json:
        out = []
        for i, piece, tname, score, rank in rows:
            item: dict[str, object] = {"id": i, "piece": piece, "type": tname}
            if score is not None:
                item["score"] = score
            if rank is not None:
                item["merge_rank"] = rank
            out.append(item)
        print_json({"kind": tok.kind, "n_vocab": tok.n_vocab, "tokens": out})
        return 0
    write = sys.stdout.write
    write(_header(tok))
    width = max(len(str(tok.n_vocab - 1)), 2)
    bpe = tok.kind == "bpe"
    label = "rank" if bpe else "score"
    write(f"{'id':>{width}}  {'type':<12} {label:>10}  piece\n")
    for i, piece, tname, score, rank in rows:
        value = (str(rank) if rank is not None else "") if bpe else (f32(score) if score is not None else "")
        write(f"{i:>{width}}  {tname:<12} {value:>10}  {token_text(piece)}\n")
    write(plural(len(rows), "entry", "entries") + "\n")
    return 0


def _header(tok) -> str:
    def named(tid):
        return "none" if tid is None else f"{tid} {token_text(tok.piece(tid))}"

    kind = tok.kind + (f" ({escape(tok.pre)})" if tok.pre else "")
    return (
        f"{escape(tok.path)}: {kind} vocabulary, {plural(tok.n_vocab, 'token')}; BOS {named(tok.bos_id)}, "
        f"EOS {named(tok.eos_id)}; adds BOS: {'yes' if tok.add_bos else 'no'}, "
        f"EOS: {'yes' if tok.add_eos else 'no'}\n"
    )

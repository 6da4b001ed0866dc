"""``irpa tokenize``: how a model tokenizes a text, as llama.cpp would."""

from __future__ import annotations

import sys

from ..display import plural, token_text
from . import ArgumentParser, CliError, print_json


def build_parser(prog: str) -> ArgumentParser:
    p = ArgumentParser(
        prog=prog,
        description="Tokenize TEXT with the model's own tokenizer, as llama.cpp's llama_tokenize does: from a "
        "GGUF file's tokenizer.ggml.* metadata (SPM, byte-level BPE, WordPiece, Unigram), or the tokenizer.json "
        "beside a safetensors file. Special tokens written in the text (<start_of_turn>) become their ids, and "
        "BOS/EOS are added as the file says. Prints each token's id and piece.",
    )
    p.add_argument("file", metavar="FILE", help="a .gguf file (or a .safetensors with tokenizer.json beside it)")
    p.add_argument(
        "text",
        nargs="+",
        metavar="TEXT",
        help="the text (several are joined with one space); '-' reads standard input exactly, newlines included",
    )
    p.add_argument("--json", action="store_true", help='print {"ids": [...], "pieces": [...]}')
    p.add_argument("--no-special", action="store_true", help="take control tokens written in the text as plain text")
    p.add_argument("--no-bos", action="store_true", help="add no BOS/EOS (nor WordPiece's CLS/SEP)")
    return p


def read_text(parts: list[str]) -> str:
    """The text to tokenize: the arguments joined by spaces, or standard
    input as it is (decoded as UTF-8) for '-'."""
    if parts == ["-"]:
        data = sys.stdin.buffer.read()
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise CliError(f"standard input is not valid UTF-8 (byte {e.start}: 0x{data[e.start]:02x})") from None
    if "-" in parts:
        raise CliError("'-' (standard input) must be the only TEXT")
    text = " ".join(parts)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise CliError(f"TEXT is not valid UTF-8 (character {e.start})") from None
    return text


def run(args) -> int:
    from .. import open_archive
    from ..tokenizer import load_tokenizer

    text = read_text(args.text)
    tok = load_tokenizer(open_archive(args.file))
    ids = tok.encode(text, add_special=not args.no_bos, parse_special=not args.no_special)
    pieces = [tok.piece(i) for i in ids]
    if args.json:
        print_json({"ids": ids, "pieces": pieces})
        return 0
    width = max((len(str(i)) for i in ids), default=1)
    lines = [f"{i:>{width}}  {token_text(p)}" for i, p in zip(ids, pieces)]
    lines.append(plural(len(ids), "token"))
    sys.stdout.write("\n".join(lines) + "\n")
    return 0

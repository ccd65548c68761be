"""`handset decode`: print Eros messages given in hex as readable trees or JSON lines.

Decoding uses the construct schema (handset.spec); naming and units come from handset.render.
"""
from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator

import click

from handset import render, spec


_HEX_DIGITS = set("0123456789abcdefABCDEF")


def _clean_hex(text: str) -> bytes:
    """Hex text (spaces, ':' or '-' between bytes allowed, optional 0x) to bytes; ValueError with a sentence."""
    compact = "".join(text.split()).replace(":", "").replace("-", "")
    if compact[:2].lower() == "0x":
        compact = compact[2:]
    if not compact:
        raise ValueError("the line holds no hex digits")
    bad = sorted(set(compact) - _HEX_DIGITS)
    if bad:
        raise ValueError(f"{''.join(bad)!r} is not hex: give the message as hex digits, e.g. 1f07b1ee00030e010081bd")
    if len(compact) % 2:
        raise ValueError(f"{len(compact)} hex digits is an odd count: every byte takes two digits")
    return bytes.fromhex(compact)


def _stdin_lines(stream: Iterable[str]) -> Iterator[tuple[int, str]]:
    """(line number, text) of the lines that hold a message: blanks and '#' comments are skipped."""
    for number, line in enumerate(stream, 1):
        text = line.split("#", 1)[0].strip()
        if text:
            yield number, text


def _decode(data: bytes, body: bool, strict: bool) -> dict:
    """Decode like a trace tool: reserved bits that are set are shown and warned about, not refused
    (unless `strict`, which refuses them as the pod does)."""
    if body:
        warnings: list[str] = []
        blocks = spec.parse_blocks(data, offset=0, lenient=not strict, warnings=warnings)
        return {"blocks": blocks, "body": data, **({} if strict else {"warnings": warnings})}
    return spec.parse_message(data, lenient=not strict)


@click.command("decode")
@click.argument("messages", nargs=-1, metavar="[HEX]...")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per message (bytes as hex strings).")
@click.option(
    "--body",
    is_flag=True,
    help="The input is a bare block sequence (no address, header or CRC), e.g. a block copied from a log.",
)
@click.option("--strict", is_flag=True,
              help="Refuse a message with reserved bits set, as the pod's own codec does.")
def decode(messages: tuple[str, ...], as_json: bool, body: bool, strict: bool) -> None:
    """Decode Eros messages given in hex and show their blocks with names and units.

    Give one message per argument, or none to read one message per line from standard input
    (blank lines and '#' comments are skipped; spaces between bytes are allowed).
    On a terminal the output is a tree; when piped it is plain indented text.
    A message that does not decode prints an error (with --json: an object with "error")
    and decoding goes on with the next one.

    Everything that came over the wire is shown: a reserved bit that is set is decoded as 0,
    listed under its block and reported by a warning line (with --json: "reserved_bits" in the
    block and "warnings" in the message); --strict refuses such a message instead. An error
    response other than bad nonce shows its fault event code and the pod's progress.

    Exit status: 0 when every message decoded (warnings included), 1 when at least one did not.
    """
    if messages:
        items: Iterable[tuple[str, str]] = ((f"argument {n}", text) for n, text in enumerate(messages, 1))
    else:
        items = ((f"line {n}", text) for n, text in _stdin_lines(sys.stdin))

    fancy = not as_json and sys.stdout.isatty()
    console = None
    if fancy:
        from rich.console import Console

        console = Console()

    failures = 0
    first = True
    for where, text in items:
        try:
            data = _clean_hex(text)
            decoded = _decode(data, body, strict)
        except ValueError as err:  # SpecError is a ValueError
            failures += 1
            if strict and "reserved bit" in str(err):
                err = ValueError(f"{err} Without --strict it is decoded with the bits shown.")
            if as_json:
                click.echo(json.dumps({"input": text, "where": where, "error": str(err)}))
            else:
                click.echo(f"error: {where} ({text}): {err}", err=True)
            continue
        if as_json:
            click.echo(json.dumps({"input": data.hex(), **render.jsonable(decoded)}))
            continue
        title = f"{data.hex()}  ({len(decoded['blocks'])} block{'s' if len(decoded['blocks']) != 1 else ''})" if body else None
        node = render.message_node(decoded, title)
        if not first:
            click.echo("")
        first = False
        if console is not None:
            console.print(render.to_rich(node))
        else:
            if not body:
                click.echo(data.hex())
            click.echo(render.to_text(node))
    sys.exit(1 if failures else 0)

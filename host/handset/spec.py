"""Declarative construct schema of the Eros message layer (SPEC.md §2–§3).

This is the host's second, independent implementation of the wire format: the block layouts are
written in construct (`handset.spec_layouts`), not derived from the MicroPython struct codec
(`eros.*`). Only the constants and the CRC are shared. Tests keep the two in step
(tests/protocol/test_agreement.py). This module parses and builds with those layouts.

Public API: `parse_message`, `build_message`, `parse_block`, `build_block`, `parse_blocks`,
`build_blocks`; every failure is a `SpecError` (a `ValueError`) whose message is a sentence.
All functions produce and consume exactly the plain dictionaries of SPEC.md §3.

`parse_message(data, lenient=True)` / `parse_blocks(..., lenient=True)` is the trace tool's reading
(`handset decode`): a reserved bit that is set (header bit 6, the zero bits of 1D, 1E and the 1A
elements) is cleared for decoding and reported in the block's `reserved_bits` list and the
message's `warnings`, instead of refusing the message; an ErrorResponse other than bad nonce also
gets its `fault_code` and `progress`. The pod's codec (`eros.*`) stays strict.
"""
# construct builds fields with `"name" / Int8ub`; its stubs do not declare that operator.
# pyright: reportOperatorIssue=false
from __future__ import annotations

import io
import re
from typing import Any

from construct import (
    ChecksumError,
    ConstError,
    ConstructError,
    ListContainer,
    SelectError,
    ValidationError,
    CheckError,
    StreamError,
)

from eros import constants as C
from eros.crc import crc16
from handset.spec_layouts import (
    HEADER_RESERVED,
    KNOWN_BLOCK_TYPES,
    VERSION_LONG_KEYS,
    VERSION_SHORT_KEYS,
    Block,
    Message,
    clear_reserved,
    table_checksum,
)

__all__ = [
    "SpecError",
    "KNOWN_BLOCK_TYPES",
    "parse_message",
    "build_message",
    "parse_block",
    "build_block",
    "parse_blocks",
    "build_blocks",
    "table_checksum",
    "Message",
    "Block",
]

HEADER_SIZE = C.HEADER_LEN  # address (4), B9, BLEN
CRC_SIZE = C.CRC_LEN
MAX_BODY = C.MAX_BODY_LEN  # 10-bit length
MIN_MESSAGE = C.MIN_MESSAGE_LEN  # header, a two-byte block, CRC


class SpecError(ValueError):
    """A message or block that does not follow the wire contract.

    `offset` is the byte offset (within the message, or within the block for `parse_block`)
    where the problem was found, when known.
    """

    def __init__(self, message: str, offset: int | None = None) -> None:
        super().__init__(message)
        self.offset = offset


# --- conversion to and from the plain dictionaries ---------------------------------------------

def _plain(obj: Any) -> Any:
    """Containers → dicts, lists → lists, flags → 0/1; drops construct's private keys."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items() if not k.startswith("_")}
    if isinstance(obj, (list, ListContainer)):
        return [_plain(v) for v in obj]
    if isinstance(obj, bool):
        return int(obj)
    return obj


def _equal(a: Any, b: Any) -> bool:
    """Value equality that treats bytes-like values and lists/tuples alike."""
    if isinstance(a, (bytes, bytearray, memoryview)) and isinstance(b, (bytes, bytearray, memoryview)):
        return bytes(a) == bytes(b)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return bool(a == b)


_STRUCT_WIDTHS = {"'>B'": "8", "'>H'": "16", "'>L'": "32"}


def _reason(err: Exception) -> str:
    """The useful part of a construct error, as a phrase naming the field when known."""
    if isinstance(err, StreamError):
        return "it ends too early or has bytes left over"
    text = str(err)
    if "\n" in text:
        text = text.split("\n", 1)[1]
    text = text.split("\n", 1)[0].strip().rstrip(".:")
    if isinstance(err, ConstError):
        text = "a reserved bit that must be 0 is set"
    if isinstance(err, ValidationError):
        text = f"value {text.rsplit(' ', 1)[-1]} is not one of the allowed values"
    if isinstance(err, CheckError):
        text = "it needs at least one entry"
    if isinstance(err, SelectError):
        text = "the fields fit neither the short nor the long form"
    match = re.match(r"struct ('>\w') error during building, given value (.*)", text)
    if match:
        text = f"value {match.group(2)} does not fit {_STRUCT_WIDTHS.get(match.group(1), 'its')} bits"
    path = getattr(err, "path", None) or ""
    names = [p.strip() for p in path.split("->")[1:] if p.strip() not in ("fields", "info", "bits", "radio")]
    if names and not names[-1].startswith("("):
        return f"field {names[-1]!r}: {text}"
    return text or type(err).__name__


def _type_name(t: int) -> str:
    return f"block 0x{t:02x}"


# --- blocks ----------------------------------------------------------------------------------

def reserved_warning(t: int, start: int, found: list[dict]) -> str:
    """One sentence naming the reserved bits set in a block (for the decode's warnings)."""
    parts = "; ".join(f"byte {f['byte']} & 0x{f['set']:02x} ({f['where']})" for f in found)
    return (f"{_type_name(t)} at byte {start} has reserved bits set: {parts}. They were decoded as 0; "
            "the pod's own codec would refuse this block.")


def _explain_error(block: dict) -> None:
    """An ErrorResponse other than bad nonce carries `FF 0P`: its fault event code and progress."""
    if block.get("type") == C.BLOCK_ERROR and block.get("code") != C.ERROR_BAD_NONCE:
        block["fault_code"] = block["word"] >> 8
        block["progress"] = block["word"] & 0x0F


def _block_end(raw: bytes, start: int) -> int:
    return start + 10 if raw[start] == C.BLOCK_STATUS else start + 2 + raw[start + 1]


def _parse_one(stream: io.BytesIO, base: int, lenient: bool = False) -> dict:
    start = stream.tell()
    raw = stream.getvalue()
    t = raw[start]
    if t != 0x1D and start + 1 >= len(raw):
        raise SpecError(f"{_type_name(t)} at byte {base + start} has no length byte: the body is cut short.", base + start)
    if t != 0x1D:
        declared = raw[start + 1]
        available = len(raw) - start - 2
        if declared > available:
            raise SpecError(
                f"{_type_name(t)} at byte {base + start} says it has {declared} bytes but only {available} follow: "
                "the body is cut short.",
                base + start,
            )
    elif len(raw) - start < 10:
        raise SpecError(
            f"status block 0x1d at byte {base + start} needs 10 bytes but only {len(raw) - start} remain.", base + start
        )
    found: list[dict] = []
    try:
        if lenient:
            end = _block_end(raw, start)
            cleaned, found = clear_reserved(t, raw[start:end], base + start)
            value = Block.parse(cleaned)
            stream.seek(end)
        else:
            value = Block.parse_stream(stream)
    except ConstructError as err:
        raise SpecError(
            f"{_type_name(t)} at byte {base + start} does not fit its layout ({_describe_failure(t, raw, start, err)}).",
            base + start,
        ) from None
    block = _plain(value)
    if lenient:
        _explain_error(block)
        if found:
            block["reserved_bits"] = found
    return block


def _describe_failure(t: int, raw: bytes, start: int, err: Exception) -> str:
    if t == 0x01:
        return f"a VersionResponse has 21 or 27 data bytes, this one has {raw[start + 1]}"
    if isinstance(err, ConstructError) and "expected end of stream" in str(err) or isinstance(err, StreamError):
        return f"its {raw[start + 1]} data bytes do not match the layout: wrong length, or a reserved bit is set"
    return _reason(err)


def parse_blocks(body: bytes, offset: int = HEADER_SIZE, lenient: bool = False,
                 warnings: list[str] | None = None) -> list[dict]:
    """Walk a message body into block dictionaries (1D has no length byte; others are prefixed).

    `offset` is where the body starts in the message, used only in error messages. With
    `lenient`, reserved bits that are set are decoded as 0, listed in the block's `reserved_bits`
    (see the module docstring) and described by one sentence per block appended to `warnings`.
    """
    data = bytes(body)
    if not data:
        raise SpecError("the message body is empty: a message carries at least one block.", offset)
    stream = io.BytesIO(data)
    blocks = []
    while stream.tell() < len(data):
        start = stream.tell()
        block = _parse_one(stream, offset, lenient)
        if block.get("reserved_bits") and warnings is not None:
            warnings.append(reserved_warning(block["type"], offset + start, block["reserved_bits"]))
        blocks.append(block)
    return blocks


def parse_block(data: bytes) -> dict:
    """Parse exactly one block (type byte first); trailing bytes are an error."""
    blocks = parse_blocks(data, offset=0)
    if len(blocks) != 1:
        raise SpecError(f"expected one block but found {len(blocks)} ({', '.join(_type_name(b['type']) for b in blocks)}).")
    return blocks[0]


def build_block(block: dict) -> bytes:
    """Encode one block dictionary (SPEC.md §3) to bytes.

    The result is parsed back and compared with the input, so a missing, misspelled, extra or
    out-of-range field is reported instead of silently changed.
    """
    if not isinstance(block, dict) or "type" not in block:
        raise SpecError("a block must be a dictionary with a 'type' field.")
    t = block["type"]
    if not isinstance(t, int) or not 0 <= t <= 0xFF:
        raise SpecError(f"block type {t!r} is not a byte (0..255).")
    if t in KNOWN_BLOCK_TYPES and "raw" in block:
        raise SpecError(f"{_type_name(t)} is a known block type: give its fields, not 'raw'.")
    if t not in KNOWN_BLOCK_TYPES and "raw" not in block:
        raise SpecError(f"{_type_name(t)} is not a type this spec knows: give its payload as 'raw' bytes.")
    if t == 0x01:
        needed = VERSION_LONG_KEYS if "pulse_volume" in block else VERSION_SHORT_KEYS
        missing = needed - set(block)
        if missing:
            raise SpecError(f"{_type_name(t)} is missing the field(s) {', '.join(sorted(missing))}.")
    try:
        data = Block.build(block)
    except KeyError as err:
        raise SpecError(f"{_type_name(t)} is missing the field {err.args[0]!r}.") from None
    except (ConstructError, ValueError, TypeError, AttributeError) as err:
        raise SpecError(f"{_type_name(t)} cannot be encoded: {_reason(err)}.") from None
    try:
        back = parse_block(data)
    except SpecError as err:
        raise SpecError(f"{_type_name(t)} cannot be encoded: {err}") from None
    _check_round_trip(block, back)
    return data



def _check_round_trip(given: dict, back: dict) -> None:
    t = given["type"]
    if given["type"] == 0x1A and given.get("checksum") is None:
        given = dict(given, checksum=back["checksum"])  # computed by the builder
    extra = set(given) - set(back)
    if extra:
        raise SpecError(f"{_type_name(t)} has field(s) it does not carry: {', '.join(sorted(extra))}.")
    for key, value in back.items():
        if not _equal(_plain(given[key]), value):
            raise SpecError(
                f"{_type_name(t)} field {key!r} = {given[key]!r} does not fit its width on the wire "
                f"(it would be sent as {value!r})."
            )


def build_blocks(blocks: list) -> bytes:
    """Encode a list of block dictionaries (or already encoded `bytes` blocks) into a body."""
    if not isinstance(blocks, (list, tuple)):
        raise SpecError("blocks must be a list of block dictionaries (or encoded blocks as bytes).")
    out = bytearray()
    for block in blocks:
        out += bytes(block) if isinstance(block, (bytes, bytearray, memoryview)) else build_block(block)
    return bytes(out)


# --- messages --------------------------------------------------------------------------------

def parse_message(data: bytes, lenient: bool = False) -> dict:
    """Parse one whole message (address, B9, BLEN, blocks, CRC16).

    Returns `{"address", "seq", "followup", "blocks": [block dicts], "body": bytes}`. With
    `lenient` (the trace tool's reading, see the module docstring) it also holds `"warnings"`, a
    list of sentences (empty when every reserved bit is 0), and a message whose CRC is right
    is decoded even when reserved bits are set.
    """
    data = bytes(data)
    if len(data) < MIN_MESSAGE:
        raise SpecError(
            f"a message needs at least {MIN_MESSAGE} bytes (header, one block, CRC) but this one has "
            f"{len(data)}.",
            0,
        )
    declared = ((data[4] & 0x03) << 8) | data[5]
    actual = len(data) - HEADER_SIZE - CRC_SIZE
    if declared != actual:
        raise SpecError(
            f"the header says the body is {declared} bytes but {actual} bytes sit between the header and the CRC: "
            "the message is cut short or has extra bytes.",
            4,
        )
    warnings: list[str] = []
    signed = data
    if lenient and data[4] & HEADER_RESERVED[1] and crc16(data[:-2]) == int.from_bytes(data[-2:], "big"):
        # The CRC covers the bytes as sent: check it first, then decode the header with the bit cleared.
        offset, mask, where = HEADER_RESERVED
        warnings.append(f"the header has a reserved bit set: byte {offset} & 0x{data[offset] & mask:02x} "
                        f"({where}). It was decoded as 0; the pod's own codec would refuse this message.")
        cleared = data[:offset] + bytes([data[offset] & ~mask & 0xFF]) + data[offset + 1:-2]
        signed = cleared + crc16(cleared).to_bytes(2, "big")
    try:
        parsed: Any = Message.parse(signed)
    except ChecksumError:
        sent = int.from_bytes(data[-2:], "big")
        computed = crc16(data[:-2])
        raise SpecError(
            f"the CRC does not match (message carries 0x{sent:04x}, content gives 0x{computed:04x}): "
            "the message is corrupted.",
            len(data) - CRC_SIZE,
        ) from None
    except ConstructError as err:
        raise SpecError(f"the message header is invalid: {_reason(err)}.", 4) from None
    fields = parsed.signed.value
    body = bytes(fields.body)
    message = {
        "address": fields.address,
        "seq": fields.header.seq,
        "followup": int(fields.header.followup),
        "blocks": parse_blocks(body, HEADER_SIZE, lenient, warnings),
        "body": body,
    }
    if lenient:
        message["warnings"] = warnings
    return message


def build_message(msg: dict) -> bytes:
    """Encode a message dictionary: `address`, `seq`, optional `followup` (default false), and
    `blocks` (block dicts or encoded `bytes`) or `body` (bytes). If both are given they must agree."""
    if not isinstance(msg, dict):
        raise SpecError("a message must be a dictionary with address, seq and blocks.")
    for key in ("address", "seq"):
        if key not in msg:
            raise SpecError(f"the message is missing {key!r}.")
    address, seq = msg["address"], msg["seq"]
    if not isinstance(address, int) or not 0 <= address <= 0xFFFFFFFF:
        raise SpecError(f"address {address!r} is not a 32-bit unsigned integer.")
    if not isinstance(seq, int) or not 0 <= seq <= 15:
        raise SpecError(f"sequence number {seq!r} is outside 0..15.")
    if "blocks" in msg:
        body = build_blocks(msg["blocks"])
        if msg.get("body") is not None and bytes(msg["body"]) != body:
            raise SpecError("the message's 'body' does not match its 'blocks': give one of them, or make them agree.")
    elif "body" in msg:
        body = bytes(msg["body"])
        parse_blocks(body)  # a body must walk cleanly, like one made from blocks
    else:
        raise SpecError("the message has neither 'blocks' nor 'body'.")
    if not body:
        raise SpecError("a message carries at least one block.")
    if len(body) > MAX_BODY:
        raise SpecError(f"the body is {len(body)} bytes; the 10-bit length field allows at most {MAX_BODY}.")
    value = {"address": address, "header": {"followup": bool(msg.get("followup", False)), "seq": seq}, "body": body}
    try:
        return Message.build({"signed": {"value": value}, "crc": None})
    except (ConstructError, ValueError) as err:
        raise SpecError(f"the message cannot be encoded: {_reason(err)}.") from None

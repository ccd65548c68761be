"""Declarative construct schema of the Eros message layer (SPEC.md §2–§3).

This is the host's second, independent implementation of the wire format: the block layouts are
written here in construct, not derived from the MicroPython struct codec (`eros.*`). Only the
constants and the CRC are shared. Tests keep the two in step (tests/protocol/test_agreement.py).

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
    Adapter,
    Array,
    BitsInteger,
    BitStruct,
    Bytes,
    Checksum,
    ChecksumError,
    Check,
    Const,
    ConstError,
    Construct,
    ConstructError,
    Container,
    Default,
    Flag,
    GreedyBytes,
    GreedyRange,
    Int8ub,
    Int16ub,
    Int32ub,
    OneOf,
    ListContainer,
    Prefixed,
    RawCopy,
    Rebuild,
    Select,
    SelectError,
    ValidationError,
    CheckError,
    StreamError,
    Struct,
    Switch,
    Terminated,
    this,
)

from eros import constants as C
from eros.crc import crc16

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


# --- small building pieces ------------------------------------------------------------------

def _payload(*fields: Any) -> Construct:
    """A length-prefixed block payload that must be consumed exactly."""
    return Prefixed(Int8ub, Struct(*fields, Terminated))


Nonce = Int32ub
Version = Array(3, Int8ub)  # major.minor.patch
Words = GreedyRange(Int32ub)  # pulse-log entries

class _SegmentCount(Adapter):
    """A run of 1..16 half-hour segments, sent as "segments - 1" in 4 bits."""

    def _decode(self, obj: int, context: Any, path: Any) -> int:
        return obj + 1

    def _encode(self, obj: int, context: Any, path: Any) -> int:
        if not isinstance(obj, int) or not 1 <= obj <= 16:
            raise ValueError(f"segments must be 1..16, not {obj!r}")
        return obj - 1


Segments = _SegmentCount(BitsInteger(4))


# --- 0x01 VersionResponse ---------------------------------------------------------------------

VersionShort = Struct(
    "pm_version" / Version,
    "pi_version" / Version,
    "product_id" / Int8ub,
    "progress" / Int8ub,
    "lot" / Int32ub,
    "tid" / Int32ub,
    "radio" / BitStruct("gain" / BitsInteger(2), "rssi" / BitsInteger(6)),
    "address" / Int32ub,
    Terminated,
)

VersionLong = Struct(
    "pulse_volume" / Int16ub,
    "bolus_interval_eighths" / Int8ub,
    "prime_interval_eighths" / Int8ub,
    "prime_pulses" / Int8ub,
    "cannula_pulses" / Int8ub,
    "pod_life_hours" / Int8ub,
    "pm_version" / Version,
    "pi_version" / Version,
    "product_id" / Int8ub,
    "progress" / Int8ub,
    "lot" / Int32ub,
    "tid" / Int32ub,
    "address" / Int32ub,
    Terminated,
)


class _Merge(Adapter):
    """Lifts the fields of one nested container (e.g. a sub-byte BitStruct) into its parent.

    construct nests every BitStruct; the wire contract has flat dictionaries.
    """

    def __init__(self, subcon: Construct, key: str) -> None:
        super().__init__(subcon)
        self.key = key

    def _decode(self, obj: Any, context: Any, path: Any) -> Any:
        flat = Container()
        for name, value in obj.items():
            if name == self.key:
                flat.update((k, v) for k, v in value.items() if not k.startswith("_"))
            elif not name.startswith("_"):
                flat[name] = value
        return flat

    def _encode(self, obj: Any, context: Any, path: Any) -> Any:
        # Keys the outer struct names stay outside; every other key belongs to the nested one.
        outer = {sc.name for sc in getattr(self.subcon, "subcons") if sc.name and sc.name != self.key}
        nested = Container((k, v) for k, v in obj.items() if k in outer)
        nested[self.key] = Container((k, v) for k, v in obj.items() if k not in outer)
        return nested


_VERSION_SHORT_KEYS = {"type", "pm_version", "pi_version", "product_id", "progress", "lot", "tid", "gain", "rssi", "address"}
_VERSION_LONG_KEYS = {"type", "pulse_volume", "bolus_interval_eighths", "prime_interval_eighths", "prime_pulses",
                      "cannula_pulses", "pod_life_hours", "pm_version", "pi_version", "product_id", "progress", "lot",
                      "tid", "address"}

VersionResponse = Prefixed(Int8ub, Select(VersionLong, _Merge(VersionShort, "radio")))


# --- 0x02 PodInfoResponse -----------------------------------------------------------------------

TriggeredAlerts = Struct("word" / Int16ub, "alert_minutes" / Array(8, Int16ub), Terminated)

DetailedStatus = Struct(
    "bits" / BitStruct(
        "progress" / BitsInteger(8),
        "delivery" / BitsInteger(8),
        "bolus_remaining" / BitsInteger(16),
        "last_prog_seq" / BitsInteger(8),
        "pulses_delivered" / BitsInteger(16),
        "fault_code" / BitsInteger(8),
        "fault_minutes" / BitsInteger(16),
        "reservoir" / BitsInteger(16),
        "minutes" / BitsInteger(16),
        "alerts" / BitsInteger(8),
        "table_fault" / BitsInteger(8),
        "table_corruption" / Flag,
        "occlusion_type" / BitsInteger(2),
        "bolus_in_progress" / Flag,
        "progress_at_fault" / BitsInteger(4),
        "gain" / BitsInteger(2),
        "rssi" / BitsInteger(6),
        "previous_progress" / BitsInteger(8),
        "tail" / BitsInteger(16),
    ),
    Terminated,
)

PulseLogPlus = Struct(
    "fault_code" / Int8ub,
    "fault_minutes" / Int16ub,
    "minutes" / Int16ub,
    "entry_size" / Int8ub,
    "max_entries" / Int8ub,
    "entries" / Words,
    Terminated,
)

FaultAndActivation = Struct(
    "fault_code" / Int8ub,
    "fault_minutes" / Int16ub,
    "reserved" / Bytes(8),
    "month" / Int8ub,
    "day" / Int8ub,
    "year" / Int8ub,
    "hour" / Int8ub,
    "minute" / Int8ub,
    Terminated,
)

PulseLogLast = Struct("last_index" / Int16ub, "entries" / Words, Terminated)
PulseLogEarlier = Struct("count" / Int16ub, "entries" / Words, Terminated)
PodInfoOther = Struct("data" / GreedyBytes)

POD_INFO_LAYOUTS: dict[int, Construct] = {
    0x01: TriggeredAlerts,
    0x02: _Merge(DetailedStatus, "bits"),
    0x03: PulseLogPlus,
    0x05: FaultAndActivation,
    0x50: PulseLogLast,
    0x51: PulseLogEarlier,
}

PodInfoResponse = Prefixed(
    Int8ub,
    _Merge(
        Struct("subtype" / Int8ub, "info" / Switch(this.subtype, POD_INFO_LAYOUTS, default=PodInfoOther)),
        "info",
    ),
)


# --- commands and other responses ---------------------------------------------------------------

SetupPod = _payload(
    "address" / Int32ub,
    "unknown" / Int8ub,
    "packet_timeout" / Int8ub,
    "month" / Int8ub,
    "day" / Int8ub,
    "year" / Int8ub,
    "hour" / Int8ub,
    "minute" / Int8ub,
    "lot" / Int32ub,
    "tid" / Int32ub,
)

ErrorResponse = _payload("code" / Int8ub, "word" / Int16ub)
AssignAddress = _payload("address" / Int32ub)
FaultConfig = _payload("nonce" / Nonce, "tab5_16" / Int8ub, "tab5_17" / Int8ub)
GetStatus = _payload("request" / Int8ub)
AcknowledgeAlerts = _payload("nonce" / Nonce, "mask" / Int8ub)
DeactivatePod = _payload("nonce" / Nonce)
BeepConfig = Prefixed(
    Int8ub,
    BitStruct(
        Const(0, BitsInteger(4)),  # the beep type is a nibble; the high one is unused
        "beep_type" / BitsInteger(4),
        "basal_beep" / BitsInteger(8),
        "temp_basal_beep" / BitsInteger(8),
        "bolus_beep" / BitsInteger(8),
        Terminated,
    ),
)
CancelDelivery = Prefixed(
    Int8ub,
    BitStruct("nonce" / BitsInteger(32), "beep_type" / BitsInteger(4), "cancel" / BitsInteger(4), Terminated),
)

RateEntry = Struct("tenths" / Int16ub, "interval_us" / Int32ub)
ScheduleExtra = _payload(  # 0x13 and 0x16 share one layout
    "beep_options" / Int8ub,
    "current_entry" / Int8ub,
    "remaining_tenths" / Int16ub,
    "delay_until_next_tenth_us" / Int32ub,
    "entries" / GreedyRange(RateEntry),
    Check(lambda ctx: len(ctx.entries) >= 1),  # a rate program has at least one entry
)
BolusExtra = _payload(
    "beep_options" / Int8ub,
    "immediate_tenths" / Int16ub,
    "immediate_interval_us" / Int32ub,
    "extended_tenths" / Int16ub,
    "extended_interval_us" / Int32ub,
)

AlertConfig = BitStruct(
    "slot" / BitsInteger(4),
    "active" / Flag,
    "units_trigger" / Flag,
    "auto_off" / Flag,
    "duration_minutes" / BitsInteger(9),
    "trigger" / BitsInteger(16),
    "beep_repeat" / BitsInteger(8),
    "beep_type" / BitsInteger(8),
)
ConfigureAlerts = _payload("nonce" / Nonce, "alerts" / GreedyRange(AlertConfig))

ScheduleElement = BitStruct(
    "segments" / Segments,
    "alternate" / Flag,
    Const(0, BitsInteger(1)),  # unused bit between the flag and the 10-bit pulse count
    "pulses" / BitsInteger(10),
)


def table_checksum(block: dict) -> int:
    """The 1A checksum of a SetInsulinSchedule dict: the 16-bit sum of the bytes of HH, SSSS, PPPP
    and of both bytes of every half-hour segment's pulse count, the table expanded segment by
    segment (with `alternate`, every second segment of an element carries one more pulse)."""
    total = block["segment"] + sum(block["seconds_x8"].to_bytes(2, "big")) + sum(block["pulses"].to_bytes(2, "big"))
    for element in block["elements"]:
        for index in range(element["segments"]):
            pulses = element["pulses"] + (index % 2 if element["alternate"] else 0)
            total += (pulses >> 8) + (pulses & 0xFF)
    return total & 0xFFFF


TABLES = (C.TABLE_BASAL, C.TABLE_TEMP_BASAL, C.TABLE_BOLUS)

SetInsulinSchedule = _payload(
    "nonce" / Nonce,
    "table" / OneOf(Int8ub, TABLES),
    # left out (or None) when building: computed from the table, as the handset would send it
    "checksum" / Default(Int16ub, table_checksum),
    "segment" / Int8ub,
    "seconds_x8" / Int16ub,
    "pulses" / Int16ub,
    "elements" / GreedyRange(ScheduleElement),
    Check(lambda ctx: len(ctx.elements) >= 1),  # a table has at least one element
)

# 0x1D has no length byte: always 9 data bytes.
StatusResponse = BitStruct(
    "delivery" / BitsInteger(4),
    "progress" / BitsInteger(4),
    Const(0, BitsInteger(4)),
    "pulses_delivered" / BitsInteger(13),
    "last_prog_seq" / BitsInteger(4),
    Const(0, BitsInteger(1)),
    "bolus_remaining" / BitsInteger(10),
    Const(0, BitsInteger(1)),
    "alerts" / BitsInteger(8),
    "minutes" / BitsInteger(13),
    "reservoir" / BitsInteger(10),
)

UnknownBlock = _payload("raw" / GreedyBytes)

BLOCK_LAYOUTS: dict[int, Construct] = {
    C.BLOCK_VERSION: VersionResponse,
    C.BLOCK_POD_INFO: PodInfoResponse,
    C.BLOCK_SETUP_POD: SetupPod,
    C.BLOCK_ERROR: ErrorResponse,
    C.BLOCK_ASSIGN_ADDRESS: AssignAddress,
    C.BLOCK_FAULT_CONFIG: FaultConfig,
    C.BLOCK_GET_STATUS: GetStatus,
    C.BLOCK_ACK_ALERTS: AcknowledgeAlerts,
    C.BLOCK_BASAL_EXTRA: ScheduleExtra,
    C.BLOCK_TEMP_BASAL_EXTRA: ScheduleExtra,
    C.BLOCK_BOLUS_EXTRA: BolusExtra,
    C.BLOCK_CONFIGURE_ALERTS: ConfigureAlerts,
    C.BLOCK_INSULIN_SCHEDULE: SetInsulinSchedule,
    C.BLOCK_DEACTIVATE: DeactivatePod,
    C.BLOCK_STATUS: StatusResponse,  # no length byte
    C.BLOCK_BEEP_CONFIG: BeepConfig,
    C.BLOCK_CANCEL: CancelDelivery,
}
KNOWN_BLOCK_TYPES = frozenset(BLOCK_LAYOUTS)

Block = _Merge(Struct("type" / Int8ub, "fields" / Switch(this.type, BLOCK_LAYOUTS, default=UnknownBlock)), "fields")


# --- the message ------------------------------------------------------------------------------

Header = BitStruct(
    "followup" / Flag,
    Const(0, BitsInteger(1)),
    "seq" / BitsInteger(4),
    "length" / Rebuild(BitsInteger(10), lambda ctx: len(ctx._.body)),
)

Message = Struct(
    "signed" / RawCopy(Struct("address" / Int32ub, "header" / Header, "body" / Bytes(this.header.length))),
    "crc" / Checksum(Int16ub, crc16, this.signed.data),
    Terminated,
)


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

# --- reserved bits (lenient decoding) -----------------------------------------------------------

#: Bit 6 of the header byte B9 (message offset 4) is unused.
HEADER_RESERVED = (4, 0x40, "bit 6 of the header byte B9, unused")


def _reserved_positions(t: int, block: bytes) -> list[tuple[int, int, str]]:
    """(offset in the block, mask, where) of every bit of this block the contract says is 0."""
    if t == C.BLOCK_STATUS:
        return [(2, 0xF0, "bits 31..28 of bytes 2..5, unused"),
                (4, 0x04, "bit 10 of bytes 2..5, which some decoders read as an 11th bolus-remaining bit"),
                (6, 0x80, "bit 31 of bytes 6..9, which some decoders read as 'faulted'")]
    if t == C.BLOCK_BEEP_CONFIG and len(block) > 2:
        return [(2, 0xF0, "high nibble of the beep-type byte, unused")]
    if t == C.BLOCK_INSULIN_SCHEDULE:
        return [(offset, 0x04, f"bit 10 of element {(offset - 14) // 2}, unused")
                for offset in range(14, len(block) - 1, 2)]
    if t == C.BLOCK_ERROR and len(block) == 5 and block[2] != C.ERROR_BAD_NONCE:
        return [(4, 0xF0, "high nibble of the progress byte, unused")]
    return []


def _clear_reserved(t: int, block: bytes, base: int) -> tuple[bytes, list[dict]]:
    """The block with its reserved bits cleared, and what was set (offsets counted from `base`)."""
    cleaned = bytearray(block)
    found = []
    for offset, mask, where in _reserved_positions(t, block):
        bits = cleaned[offset] & mask
        if bits:
            cleaned[offset] &= ~mask & 0xFF
            found.append({"byte": base + offset, "mask": mask, "set": bits, "where": where})
    return bytes(cleaned), found


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
            cleaned, found = _clear_reserved(t, raw[start:end], base + start)
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
        needed = _VERSION_LONG_KEYS if "pulse_volume" in block else _VERSION_SHORT_KEYS
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

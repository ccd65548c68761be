"""The construct layouts of every Eros block and of the message (SPEC.md §2–§3), and which bits of
them are reserved: the declarative half of `handset.spec`, which parses and builds with them.

Written here in construct, not derived from the MicroPython struct codec (`eros.*`); only the
constants and the CRC are shared.
"""
# construct builds fields with `"name" / Int8ub`; its stubs do not declare that operator.
# pyright: reportOperatorIssue=false
from __future__ import annotations

from typing import Any

from construct import (
    Adapter,
    Array,
    BitsInteger,
    BitStruct,
    Bytes,
    Checksum,
    Check,
    Const,
    Construct,
    Container,
    Default,
    Flag,
    GreedyBytes,
    GreedyRange,
    Int8ub,
    Int16ub,
    Int32ub,
    OneOf,
    Prefixed,
    RawCopy,
    Rebuild,
    Select,
    Struct,
    Switch,
    Terminated,
    this,
)

from eros import constants as C
from eros.crc import crc16

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


VERSION_SHORT_KEYS = {"type", "pm_version", "pi_version", "product_id", "progress", "lot", "tid", "gain", "rssi", "address"}
VERSION_LONG_KEYS = {"type", "pulse_volume", "bolus_interval_eighths", "prime_interval_eighths", "prime_pulses",
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


# --- reserved bits (lenient decoding) -----------------------------------------------------------

#: Bit 6 of the header byte B9 (message offset 4) is unused.
HEADER_RESERVED = (4, 0x40, "bit 6 of the header byte B9, unused")


def reserved_positions(t: int, block: bytes) -> list[tuple[int, int, str]]:
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


def clear_reserved(t: int, block: bytes, base: int) -> tuple[bytes, list[dict]]:
    """The block with its reserved bits cleared, and what was set (offsets counted from `base`)."""
    cleaned = bytearray(block)
    found = []
    for offset, mask, where in reserved_positions(t, block):
        bits = cleaned[offset] & mask
        if bits:
            cleaned[offset] &= ~mask & 0xFF
            found.append({"byte": base + offset, "mask": mask, "set": bits, "where": where})
    return bytes(cleaned), found

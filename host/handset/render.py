"""Human-readable names and formatting of decoded Eros messages (used by `handset decode` and traces).

Works on the plain dictionaries of SPEC.md §3 (from either codec). Builds a neutral `Node` tree that
prints as a rich `Tree` on a terminal or as indented plain text, plus one-line summaries and a
JSON-safe conversion. Insulin amounts are formatted from integer pulses (0.05 U) without floats.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eros import constants as C
from handset.spec import table_checksum

__all__ = [
    "Node",
    "block_name",
    "progress_name",
    "delivery_name",
    "fault_name",
    "error_name",
    "info_type_name",
    "beep_type_name",
    "beep_repeat_name",
    "slot_name",
    "slot_list",
    "pulses_text",
    "tenths_text",
    "minutes_text",
    "us_text",
    "field_text",
    "block_node",
    "reserved_text",
    "message_node",
    "block_summary",
    "message_summary",
    "to_text",
    "to_rich",
    "jsonable",
]

BLOCK_NAMES: dict[int, str] = {
    C.BLOCK_VERSION: "VersionResponse",
    C.BLOCK_POD_INFO: "PodInfoResponse",
    C.BLOCK_SETUP_POD: "SetupPod",
    C.BLOCK_ERROR: "ErrorResponse",
    C.BLOCK_ASSIGN_ADDRESS: "AssignAddress",
    C.BLOCK_FAULT_CONFIG: "FaultConfig",
    C.BLOCK_GET_STATUS: "GetStatus",
    C.BLOCK_ACK_ALERTS: "AcknowledgeAlerts",
    C.BLOCK_BASAL_EXTRA: "BasalScheduleExtra",
    C.BLOCK_TEMP_BASAL_EXTRA: "TempBasalExtra",
    C.BLOCK_BOLUS_EXTRA: "BolusExtra",
    C.BLOCK_CONFIGURE_ALERTS: "ConfigureAlerts",
    C.BLOCK_INSULIN_SCHEDULE: "SetInsulinSchedule",
    C.BLOCK_DEACTIVATE: "DeactivatePod",
    C.BLOCK_STATUS: "StatusResponse",
    C.BLOCK_BEEP_CONFIG: "BeepConfig",
    C.BLOCK_CANCEL: "CancelDelivery",
}

PROGRESS_NAMES: dict[int, str] = {
    0: "initialized",
    1: "memory initialized",
    2: "reminder initialized",
    3: "pairing completed",
    4: "priming",
    5: "priming completed",
    6: "basal initialized",
    7: "inserting cannula",
    8: "running, above 50 U",
    9: "running, 50 U or less",
    13: "fault event occurred",
    14: "activation time exceeded",
    15: "inactive",
}

DELIVERY_BITS = (
    (C.DELIVERY_BASAL, "basal"),
    (C.DELIVERY_TEMP_BASAL, "temp basal"),
    (C.DELIVERY_BOLUS, "bolus"),
    (C.DELIVERY_EXTENDED_BOLUS, "extended bolus"),
)

CANCEL_BITS = ((C.CANCEL_BASAL, "basal"), (C.CANCEL_TEMP_BASAL, "temp basal"), (C.CANCEL_BOLUS, "bolus"))

ERROR_NAMES: dict[int, str] = {
    0x01: "flash write failed",
    0x02: "flash erase failed",
    0x03: "flash operation failed",
    0x04: "illegal flash address",
    0x05: "pod state",
    0x06: "critical variable",
    0x07: "illegal parameter",
    0x08: "bolus critical variable check",
    0x09: "illegal parameter in command",
    0x0A: "checksum mismatch",
    0x0B: "invalid message length",
    0x0C: "command in wrong pod state",
    0x0D: "illegal command",
    0x14: "bad nonce",
}

FAULT_NAMES: dict[int, str] = {
    0x00: "no fault",
    0x01: "failed flash erase",
    0x12: "reset due to low voltage",
    0x13: "message length too long",
    0x14: "occluded",
    0x18: "reservoir empty",
    0x1C: "exceeded maximum pod life (80 h)",
    0x28: "bad setup pod arguments or state",
    0x31: "incorrect pod state for command",
    0x33: "command timeout",
    0x37: "bad piezo value",
    0x5C: "prime open count too low",
    0x6A: "occlusion check above threshold",
    0x86: "basal over-infusion pulse",
    0x8F: "command 1A parse failure",
    0x92: "temp pulse channel inactive",
}
for _slot in range(8):
    FAULT_NAMES.setdefault(0x29 + _slot, f"alert {_slot} auto-off timeout")

INFO_TYPE_NAMES: dict[int, str] = {
    C.INFO_STATUS: "status",
    C.INFO_TRIGGERED_ALERTS: "triggered alerts",
    C.INFO_DETAILED_STATUS: "detailed status",
    C.INFO_PULSE_LOG_PLUS: "pulse log plus",
    C.INFO_ACTIVATION_TIME: "fault and activation time",
    C.INFO_TEST_VALUES: "test values",
    C.INFO_RESET_STATUS: "reset status",
    C.INFO_PULSE_LOG_RECENT: "pulse log, last entries",
    C.INFO_PULSE_LOG_PREVIOUS: "pulse log, earlier entries",
}

BEEP_TYPE_NAMES: dict[int, str] = {
    0x0: "no beep",
    0x1: "beep beep beep beep",
    0x2: "bip beep ×4",
    0x3: "bip bip",
    0x4: "beep",
    0x5: "beep beep beep",
    0x6: "beeeeeep",
    0x7: "bip bip bip ×2",
    0x8: "beeep beeep",
    0xB: "beep beep",
    0xC: "beeep",
    0xD: "bip beeeeep",
    0xE: "5-second beep",
    0xF: "silent",
}

BEEP_REPEAT_NAMES: dict[int, str] = {
    0: "once",
    1: "every minute for 3 min, repeat every 60 min",
    2: "every minute for 15 min",
    3: "every minute for 3 min, repeat every 15 min",
    4: "every 3 min for 60 min from 2 min",
    5: "every 60 min",
    6: "every 15 min",
    7: "every 15 min for 60 min from 14 min",
    8: "every 5 min",
}

SLOT_NAMES: dict[int, str] = {
    C.SLOT_AUTO_OFF: "auto-off",
    1: "unused",
    C.SLOT_SHUTDOWN_IMMINENT: "shutdown imminent",
    C.SLOT_EXPIRATION_REMINDER: "expiration reminder",
    C.SLOT_LOW_RESERVOIR: "low reservoir",
    C.SLOT_SUSPEND_REMINDER: "suspended reminder",
    C.SLOT_SUSPEND_EXPIRED: "suspend time expired",
    C.SLOT_EXPIRED: "setup reminder / pod expired",
}

TABLE_NAMES = {C.TABLE_BASAL: "basal schedule", C.TABLE_TEMP_BASAL: "temp basal", C.TABLE_BOLUS: "bolus"}


# --- names -----------------------------------------------------------------------------------

def _named(table: dict[int, str], value: int, what: str) -> str:
    return table.get(value, f"unknown {what}")


def block_name(block_type: int) -> str:
    """The block's name (e.g. "StatusResponse"), or "unknown block"."""
    return _named(BLOCK_NAMES, block_type, "block")


def progress_name(progress: int) -> str:
    """Pod progress (0..15) as words."""
    return _named(PROGRESS_NAMES, progress, "progress")


def delivery_name(bits: int) -> str:
    """Delivery status bits as words ("suspended", "basal + bolus", …)."""
    if bits == C.DELIVERY_SUSPENDED:
        return "suspended"
    names = [name for bit, name in DELIVERY_BITS if bits & bit]
    rest = bits & ~0x0F
    if rest:
        names.append(f"0x{rest:02x}")
    return " + ".join(names)


def fault_name(code: int) -> str:
    """Fault event code as words."""
    return _named(FAULT_NAMES, code, "fault")


def error_name(code: int) -> str:
    """ErrorResponse code as words."""
    return _named(ERROR_NAMES, code, "error")


def info_type_name(info_type: int) -> str:
    """GetStatus request / PodInfoResponse subtype as words."""
    return _named(INFO_TYPE_NAMES, info_type, "info type")


def beep_type_name(beep: int) -> str:
    """Beep type (0..15) as words."""
    return _named(BEEP_TYPE_NAMES, beep, "beep")


def beep_repeat_name(repeat: int) -> str:
    """Alert beep repeat pattern as words."""
    return _named(BEEP_REPEAT_NAMES, repeat, "repeat")


def slot_name(slot: int) -> str:
    """Alert slot (0..7) as words."""
    return _named(SLOT_NAMES, slot, "slot")


def slot_list(mask: int) -> str:
    """An alert bitmask as the slots it names ("none" for 0)."""
    slots = [f"{n} {SLOT_NAMES.get(n, '')}".strip() for n in range(8) if mask & (1 << n)]
    return ", ".join(slots) if slots else "none"


# --- units (integers only) ----------------------------------------------------------------------

def pulses_text(pulses: int) -> str:
    """Pulses with their insulin amount: 58 → "58 pulses (2.90 U)"."""
    return f"{pulses} pulse{'' if pulses == 1 else 's'} ({pulses // 20}.{(pulses % 20) * 5:02d} U)"


def tenths_text(tenths: int) -> str:
    """Tenths of a pulse with their insulin amount: 21 → "21 tenths (0.105 U)"."""
    thousandths = tenths * 5
    return f"{tenths} tenths ({thousandths // 1000}.{thousandths % 1000:03d} U)"


def minutes_text(minutes: int) -> str:
    """Minutes with hours: 902 → "902 min (15 h 02 min)"."""
    return f"{minutes} min ({minutes // 60} h {minutes % 60:02d} min)"


def us_text(us: int) -> str:
    """Microseconds as seconds: 85714285 → "85.714285 s"."""
    return f"{us // 1_000_000}.{us % 1_000_000:06d} s"


def _eighths_text(eighths: int) -> str:
    whole, frac = divmod(eighths, 8)
    return f"{whole}.{frac * 125:03d} s"


def _beep_options_text(value: int) -> str:
    parts = []
    if value & 0x80:
        parts.append("acknowledgement beep")
    if value & 0x40:
        parts.append("completion beep")
    reminder = value & 0x3F
    parts.append(f"reminder every {reminder} min" if reminder else "no reminder")
    return f"0x{value:02x} ({', '.join(parts)})"


def _version_text(v: list[int]) -> str:
    return ".".join(str(x) for x in v)



# --- field formatting ---------------------------------------------------------------------------

_PULSE_KEYS = {"pulses_delivered", "bolus_remaining", "pulses", "prime_pulses", "cannula_pulses"}
_TENTH_KEYS = {"remaining_tenths", "tenths", "immediate_tenths", "extended_tenths"}
_US_KEYS = {"delay_until_next_tenth_us", "interval_us", "immediate_interval_us", "extended_interval_us"}
_BEEP_OPTION_KEYS = {"beep_options", "basal_beep", "temp_basal_beep", "bolus_beep"}
_PROGRESS_KEYS = {"progress", "previous_progress", "progress_at_fault"}
_HEX_KEYS = {"nonce": 8, "address": 8, "tail": 4, "word": 4, "checksum": 4}


def field_text(block: dict, key: str, value: Any) -> str:
    """One field's value as text with names and units, in the context of its block."""
    t = block.get("type")
    if isinstance(value, (bytes, bytearray)):
        return value.hex() if value else "(empty)"
    if key in ("pm_version", "pi_version"):
        return _version_text(value)
    if key == "checksum" and t == C.BLOCK_INSULIN_SCHEDULE:
        computed = table_checksum(block)
        return f"0x{value:04x} ({'ok' if computed == value else f'mismatch: the table sums to 0x{computed:04x}'})"
    if key == "word" and t == C.BLOCK_ERROR:
        if block.get("code") == C.ERROR_BAD_NONCE:
            return f"0x{value:04x} (nonce resync word)"
        return f"0x{value:04x} (fault {value >> 8:#04x} {fault_name(value >> 8)}, progress {value & 0x0F})"
    if key in _HEX_KEYS:
        return f"0x{value:0{_HEX_KEYS[key]}x}"
    if key == "reservoir":
        if value == C.RESERVOIR_ABOVE_50U:
            return f"0x{value:03x} (above 50 U)"
        return pulses_text(value)
    if key == "segment" and t == C.BLOCK_INSULIN_SCHEDULE:
        if block.get("table") == C.TABLE_BASAL:
            return f"{value} (half-hour starting {value // 2:02d}:{(value % 2) * 30:02d})"
        return f"{value} half-hour segment{'' if value == 1 else 's'}"
    if key == "pulses" and t == C.BLOCK_INSULIN_SCHEDULE and "segments" not in block:
        return pulses_text(value)
    if key in _PULSE_KEYS:
        return pulses_text(value)
    if key in _TENTH_KEYS:
        return tenths_text(value)
    if key in _US_KEYS:
        return us_text(value)
    if key in _BEEP_OPTION_KEYS:
        return _beep_options_text(value)
    if key in _PROGRESS_KEYS:
        return f"{value} ({progress_name(value)})"
    if key == "delivery":
        return f"{value} ({delivery_name(value)})"
    if key in ("alerts", "mask") and isinstance(value, int):
        return f"0x{value:02x} ({slot_list(value)})"
    if key == "fault_code":
        return f"0x{value:02x} ({fault_name(value)})"
    if key == "fault_minutes":
        return "unknown (0xffff)" if value == 0xFFFF else minutes_text(value)
    if key in ("minutes", "duration_minutes"):
        return minutes_text(value)
    if key == "code" and t == C.BLOCK_ERROR:
        return f"0x{value:02x} ({error_name(value)})"
    if key in ("request", "subtype"):
        return f"0x{value:02x} ({info_type_name(value)})"
    if key == "beep_type":
        return f"0x{value:x} ({beep_type_name(value)})"
    if key == "beep_repeat":
        return f"{value} ({beep_repeat_name(value)})"
    if key == "slot":
        return f"{value} ({slot_name(value)})"
    if key == "trigger":
        if block.get("units_trigger"):
            return f"{value} ({value // 10}.{value % 10} U remaining)"
        return f"{value} min from now"
    if key == "table":
        return f"{value} ({TABLE_NAMES.get(value, 'unknown table')})"
    if key == "cancel":
        names = [name for bit, name in CANCEL_BITS if value & bit]
        return f"0x{value:x} ({', '.join(names) if names else 'nothing'})"
    if key == "seconds_x8":
        return f"0x{value:04x} ({_eighths_text(value)})"
    if key == "pulse_volume":
        return f"0x{value:04x} ({value // 100_000}.{value % 100_000:05d} U per pulse)"
    if key in ("bolus_interval_eighths", "prime_interval_eighths"):
        return f"0x{value:02x} ({_eighths_text(value)} per pulse)"
    if key == "pod_life_hours":
        return f"{value} h"
    if key == "year":
        return f"{value} ({2000 + value})"
    if key == "segments":
        return f"{value} half-hour{'' if value == 1 else 's'}"
    if key in ("alternate", "active", "units_trigger", "auto_off", "table_corruption", "bolus_in_progress"):
        return "yes" if value else "no"
    return str(value)


# --- trees ---------------------------------------------------------------------------------------

@dataclass
class Node:
    """One line of a decoded tree and the lines under it."""

    label: str
    children: list[Node] = field(default_factory=list)


def _list_node(block: dict, key: str, items: list) -> Node:
    node = Node(f"{key}: {len(items)} item{'' if len(items) == 1 else 's'}")
    for i, item in enumerate(items):
        if isinstance(item, dict):
            context = dict(item, type=block.get("type"))
            child = Node(f"[{i}]", [Node(f"{k}: {field_text(context, k, v)}") for k, v in item.items()])
        elif key == "alert_minutes":
            child = Node(f"slot {i} ({slot_name(i)}): {'not triggered' if item == 0 else minutes_text(item)}")
        elif key == "entries":
            child = Node(f"[{i}] 0x{item:08x}")
        else:
            child = Node(f"[{i}] {item}")
        node.children.append(child)
    return node


def reserved_text(entry: dict) -> str:
    """One reserved-bit finding of a lenient decode: "byte 12 & 0x80 (bit 31 of bytes 6..9, …)"."""
    return f"byte {entry['byte']} & 0x{entry['set']:02x} ({entry['where']})"


def block_node(block: dict) -> Node:
    """A block as a tree: its name, then one line per field (lists as sub-trees)."""
    t = block["type"]
    node = Node(f"0x{t:02x} {block_name(t)}")
    for key, value in block.items():
        if key == "type":
            continue
        if key == "reserved_bits":
            node.children.append(Node("reserved bits set (decoded as 0)", [Node(reserved_text(e)) for e in value]))
            continue
        if isinstance(value, list) and key not in ("pm_version", "pi_version"):
            node.children.append(_list_node(block, key, value))
        else:
            node.children.append(Node(f"{key}: {field_text(block, key, value)}"))
    return node


def message_node(msg: dict, title: str | None = None) -> Node:
    """A decoded message as a tree: header line, then its blocks."""
    head = title or (
        f"message to/from 0x{msg['address']:08x}, seq {msg['seq']}"
        f"{', critical follow-up' if msg.get('followup') else ''}, {len(msg.get('body', b''))}-byte body"
    )
    warnings = [Node(f"warning: {text}") for text in msg.get("warnings", [])]
    return Node(head, warnings + [block_node(b) for b in msg["blocks"]])


def block_summary(block: dict) -> str:
    """One line for a block, for traces: "1D StatusResponse delivery=1 (basal) …"."""
    t = block["type"]
    parts = []
    for key, value in block.items():
        if key == "type":
            continue
        if key == "reserved_bits":
            parts.append("reserved=" + ",".join(f"{e['byte']}&0x{e['set']:02x}" for e in value))
        elif isinstance(value, list) and key not in ("pm_version", "pi_version"):
            parts.append(f"{key}=[{len(value)}]")
        else:
            parts.append(f"{key}={field_text(block, key, value)}")
    return f"{t:02x} {block_name(t)} " + " ".join(parts)


def message_summary(msg: dict) -> str:
    """One line for a message: address, seq and the names of its blocks."""
    names = " + ".join(f"{b['type']:02x} {block_name(b['type'])}" for b in msg["blocks"])
    flag = " follow-up" if msg.get("followup") else ""
    return f"{msg['address']:08x} seq {msg['seq']:2d}{flag}: {names}"


def to_text(node: Node, indent: str = "  ", depth: int = 0) -> str:
    """The tree as plain indented text (for pipes and logs)."""
    lines = [indent * depth + node.label]
    for child in node.children:
        lines.append(to_text(child, indent, depth + 1))
    return "\n".join(lines)


def to_rich(node: Node) -> Any:
    """The tree as a `rich.tree.Tree` (for terminals)."""
    from rich.markup import escape
    from rich.tree import Tree

    def grow(tree: Tree, n: Node) -> None:
        for child in n.children:
            style = "bold cyan" if child.children and child.label.startswith("0x") else ""
            branch = tree.add(f"[{style}]{escape(child.label)}[/]" if style else escape(child.label))
            grow(branch, child)

    root = Tree(f"[bold]{escape(node.label)}[/]")
    grow(root, node)
    return root


def jsonable(obj: Any) -> Any:
    """A decoded dict made JSON-safe: bytes become hex strings, tuples lists, flags stay 0/1."""
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return bytes(obj).hex()
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, bool):
        return int(obj)
    return obj

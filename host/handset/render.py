"""Human-readable formatting of decoded Eros messages (used by `handset decode` and traces); the
names of protocol values come from `handset.names` and are re-exported here.

Works on the plain dictionaries of SPEC.md §3 (from either codec). Builds a neutral `Node` tree that
prints as a rich `Tree` on a terminal or as indented plain text, plus one-line summaries and a
JSON-safe conversion. Insulin amounts are formatted from integer pulses (0.05 U) without floats.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eros import constants as C
from handset.names import (
    CANCEL_BITS,
    TABLE_NAMES,
    beep_repeat_name,
    beep_type_name,
    block_name,
    delivery_name,
    error_name,
    fault_name,
    info_type_name,
    progress_name,
    slot_list,
    slot_name,
)
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
            if child.label.startswith("warning:") or child.label.startswith("reserved bits set"):
                style = "bold yellow"
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

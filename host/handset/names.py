"""Names of the Eros protocol's values for people: block types, pod progress, delivery bits, fault
and error codes, info types, beeps, alert slots, insulin tables (SAFETY/PROTOCOL notes, SPEC.md §3).

Each `*_name` function answers "unknown …" for a value it has no name for, never raises.
"""
from __future__ import annotations

from eros import constants as C

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

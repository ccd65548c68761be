"""Request blocks the handset sends (SPEC §3) and the checks every argument passes before it is sent.

Insulin is in integer pulses (0.05 U) and rates in pulses per hour; a value out of range raises
``InvalidInput`` with a sentence, and nothing goes out.
"""
from __future__ import annotations

import datetime as _dt

from eros import constants as C
from handset.errors import InvalidInput

MAX_PULSES = 600
MAX_RATE_PPH = 600
BEEP_SILENT_ALERT = 0x0F  # silent in 19/1E (PROTOCOL-NOTES §2.4)


def cancel_block(what: int, beep_type: int = 0) -> dict:
    """1F CancelDelivery: ``what`` = bits 4 bolus, 2 temp basal, 1 basal; nonce filled by the session."""
    return {"type": C.BLOCK_CANCEL, "nonce": 0, "beep_type": beep_type, "cancel": what}


def status_request_block(info_type: int = C.INFO_STATUS) -> dict:
    """0E GetStatus for ``info_type`` (0 status, 1 triggered alerts, 2 detailed, 0x50 pulse log, ...)."""
    return {"type": C.BLOCK_GET_STATUS, "request": info_type}


def ack_alerts_block(mask: int) -> dict:
    """11 AcknowledgeAlerts for the slots in ``mask``."""
    return {"type": C.BLOCK_ACK_ALERTS, "nonce": 0, "mask": mask}


def configure_alerts_block(alerts: list[dict]) -> dict:
    """19 ConfigureAlerts with the given alert configurations (SPEC §3)."""
    return {"type": C.BLOCK_CONFIGURE_ALERTS, "nonce": 0, "alerts": [dict(a) for a in alerts]}


def deactivate_block() -> dict:
    """1C DeactivatePod."""
    return {"type": C.BLOCK_DEACTIVATE, "nonce": 0}


def beep_block(beep_type: int) -> dict:
    """1E BeepConfig that sounds ``beep_type`` once and leaves the completion/reminder beeps off."""
    return {"type": C.BLOCK_BEEP_CONFIG, "beep_type": beep_type,
            "basal_beep": 0, "temp_basal_beep": 0, "bolus_beep": 0}


def check_int(what: str, value: object, low: int, high: int, unit: str) -> None:
    """Refuse ``value`` unless it is a whole number in ``low..high`` (a sentence names ``what``)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"The {what} must be a whole number of {unit}, not {value!r}.")
    if not low <= value <= high:
        raise InvalidInput(f"The {what} must be between {low} and {high} {unit}; {value} is out of range.")


def check_rates(rates_pph: list[int]) -> list[int]:
    """48 half-hour basal rates, each 1..600 pulses/hour; returns them as a list."""
    rates = list(rates_pph)
    if len(rates) != 48:
        raise InvalidInput(f"A basal program needs 48 half-hour rates; {len(rates)} were given.")
    for i, r in enumerate(rates):
        check_int(f"basal rate of half-hour {i}", r, 1, MAX_RATE_PPH, "pulses per hour")
    return rates


def time_of_day_ms(now: _dt.datetime | None = None) -> int:
    """Milliseconds since local midnight (integer)."""
    now = now or _dt.datetime.now()
    return ((now.hour * 60 + now.minute) * 60 + now.second) * 1000 + now.microsecond // 1000

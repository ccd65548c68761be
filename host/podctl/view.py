"""What the operator reads: the pod's state from one bench ``info`` as lines of text.

Shared by ``podctl info`` and ``podctl watch``; the web page draws the same members itself.
"""
from __future__ import annotations

from handset.errors import fault_name
from podctl.units import format_rate, format_span, format_units

PROGRESS = {0: "initial", 1: "memory test", 2: "filled, waiting for pairing", 3: "paired", 4: "priming",
            5: "primed", 6: "basal program set", 7: "inserting the cannula", 8: "running",
            9: "running, reservoir low", 10: "error shutting down", 11: "alerted", 12: "inactive",
            13: "faulted", 14: "activation timed out", 15: "deactivated"}


def delivery_text(info: dict) -> str:
    """``"basal 0.85 U/h, temp 1.20 U/h (25m left), bolus 0.60 U left"`` or ``"nothing"``."""
    pod, d = info.get("pod", {}), info.get("delivery", {})
    bits = pod.get("delivery", 0)
    parts = []
    if bits & 1:
        parts.append(f"basal {format_rate(d.get('basal_cuph'))}")
    if bits & 2:
        left = d.get("temp_end_ms")
        parts.append(f"temp {format_rate(d.get('temp_cuph'))}"
                     + (f" ({format_span(left - info.get('now_ms', 0))} left)" if left is not None else ""))
    if bits & 0xC:
        parts.append(f"bolus {format_units(d.get('bolus_left'))} left")
    return ", ".join(parts) or "nothing"


def info_lines(info: dict) -> list[tuple[str, str]]:
    """(label, value) rows for a person."""
    pod = info.get("pod", {})
    fault = pod.get("fault", 0)
    rows = [
        ("clock", f"{info.get('clock')} at {format_span(info.get('now_ms'))}"
                  + (f", {info.get('speed')}x real time" if info.get("clock") == "real" else "")),
        ("pod", f"lot {pod.get('lot')} tid {pod.get('tid')} address {pod.get('address', 0):08x}"),
        ("progress", f"{pod.get('progress')} ({PROGRESS.get(pod.get('progress', -1), 'unknown')})"),
        ("fault", f"0x{fault:02x} ({fault_name(fault)})" if fault else "none"),
        ("age", f"{pod.get('minutes', 0) // 60}h{pod.get('minutes', 0) % 60:02d}m"),
        ("delivery", delivery_text(info)),
        ("reservoir", format_units(pod.get("reservoir"))),
        ("delivered", format_units(pod.get("delivered"))),
        ("alerts", f"0x{pod.get('alerts', 0):02x}" if pod.get("alerts") else "none"),
    ]
    armed = info.get("armed") or []
    rows.append(("armed faults", "; ".join(armed_text(a) for a in armed) or "none"))
    cut = info.get("power_cut_ms")
    rows.append(("power cut", f"at {format_span(cut)}" if cut is not None else "none"))
    conn = info.get("connections") or {}
    rows.append(("handset", "connected" if conn.get("handset") else "not connected"))
    return rows


def armed_text(armed: dict) -> str:
    """One armed message fault as words."""
    what = {"lose": "lose the reply", "drop": "drop the command", "delay": "delay the reply",
            "corrupt": "corrupt the reply"}.get(armed.get("fault", ""), str(armed.get("fault")))
    if armed.get("fault") == "delay":
        what += f" by {format_span(armed.get('ms'))}"
    if armed.get("fault") == "corrupt":
        what += f" ({armed.get('how')})"
    scope = f"next {armed.get('count')}" + (f" with block 0x{armed['block']:02x}" if "block" in armed else "")
    return f"{what}: {scope}"

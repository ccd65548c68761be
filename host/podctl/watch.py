"""``podctl watch``: the pod's state redrawn in the terminal as it changes, with its beeps."""
from __future__ import annotations

import time

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from podctl.client import BenchClient
from podctl.units import format_span
from podctl.view import info_lines

_BEEPS_SHOWN = 6


def frame(info: dict, beeps: list[list[int]], plant: dict | None) -> Group:
    """One screen: the info rows, the mechanism, the last beeps."""
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    for label, value in info_lines(info):
        style = "red" if label == "fault" and value != "none" else ("yellow" if label == "armed faults"
                                                                     and value != "none" else "")
        table.add_row(label, Text(value, style=style))
    if plant is not None:
        table.add_row("mechanism", f"{plant['pushed']} pulses pushed, {plant['blocked']} blocked, "
                                   f"{plant['dry']} dry" + (", line BLOCKED" if plant["occluded"] else ""))
    shown = ", ".join(f"type {kind} at {format_span(ms)}" for ms, kind in beeps[-_BEEPS_SHOWN:]) or "none"
    table.add_row("beeps", shown)
    return Group(Text("Eros pod emulator — podctl watch (Ctrl-C stops)", style="bold"), table)


def run_watch(client: BenchClient, interval: float, once: bool = False) -> None:
    """Poll info, plant and beeps every `interval` seconds and redraw."""
    console = Console()
    beeps: list[list[int]] = []
    since = 0

    def read() -> Group:
        nonlocal since
        info = client.request("info")
        reply = client.request("beeps", since=since)
        beeps.extend(reply["beeps"])
        since = reply["next"]
        try:
            plant = client.request("plant")
        except Exception:  # a real board has no simulated mechanism
            plant = None
        return frame(info, beeps, plant)

    if once:
        console.print(read())
        return
    try:
        with Live(read(), console=console, auto_refresh=False) as live:
            while True:
                time.sleep(interval)
                live.update(read(), refresh=True)
    except KeyboardInterrupt:
        pass

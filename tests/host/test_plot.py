"""The history plot (handset.plot): series rebuilt from a synthetic journal, and a real PNG."""
from __future__ import annotations

import datetime as dt
import struct

from handset import plot, units

PROGRAM = units.parse_basal_program("00:00=0.8,06:00=1.2,22:00=0.9")


def local(hour: int, minute: int = 0) -> int:
    return int(dt.datetime(2026, 3, 10, hour, minute).timestamp())


def journal() -> list[dict]:
    return [
        {"time": local(5, 10), "kind": "activate", "program": "day"},
        {"time": local(5, 20), "kind": "reading", "reservoir": 0x3FF},
        {"time": local(7, 0), "kind": "bolus", "ref": "a", "pulses": 40},
        {"time": local(7, 5), "kind": "bolus_result", "ref": "a", "delivered": 25, "cancelled": True},
        {"time": local(8, 0), "kind": "temp_basal", "rate_pph": 10, "half_hours": 2},
        {"time": local(9, 30), "kind": "reading", "reservoir": 900},
        {"time": local(10, 0), "kind": "suspend"},
        {"time": local(10, 30), "kind": "resume"},
        {"time": local(11, 0), "kind": "bolus", "ref": "b", "pulses": 20},
        {"time": local(11, 30), "kind": "reading", "reservoir": 860},
    ]


def test_series_follow_program_temp_and_suspend():
    series = plot.series_from_journal(journal(), {"day": PROGRAM}, local(12))
    # 0.8 U/h (16 pph) from activation, 1.2 U/h (24) at 06:00, temp 0.5 U/h (10) 08:00–09:00,
    # back to 24, 0 while suspended 10:00–10:30, 24 again.
    assert series.basal == [(local(5, 10), 16), (local(6), 24), (local(8), 10), (local(9), 24),
                            (local(10), 0), (local(10, 30), 24)]
    # The cancelled bolus counts what was delivered (25 pulses); the other one its full amount.
    assert series.boluses == [(local(7), 25), (local(11), 20)]
    assert series.reservoir == [(local(5, 20), 0x3FF), (local(9, 30), 900), (local(11, 30), 860)]


def test_render_writes_a_png(tmp_path):
    series = plot.series_from_journal(journal(), {"day": PROGRAM}, local(12))
    path = plot.render(series, tmp_path / "history.png", local(12))
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk
    assert (width, height) == (1000, 500)
    # Three series drawn: much more ink than the empty axes of an empty history.
    empty = plot.render(plot.DeliverySeries(), tmp_path / "empty.png", local(12)).read_bytes()
    assert empty[:4] == b"\x89PNG"
    assert len(data) > len(empty) + 10_000

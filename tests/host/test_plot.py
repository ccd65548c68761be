"""The history plot (handset.plot): the model built from history records (handset.history's kinds),
the file name rule, and the PNG itself.
"""
from __future__ import annotations

import struct
from pathlib import Path

import pytest

from handset import plot, units
from handset.errors import InvalidInput

MIN = 60_000
HOUR = 60 * MIN
POD = "1f02f037"
PROGRAM = units.parse_basal_program("00:00=0.8,06:00=1.2,22:00=0.9")


def rec(n: int, kind: str, minute: int, **fields) -> dict:
    return {"id": n, "at": "2026-03-10T05:00:00+00:00", "kind": kind, "pod_ms": minute * MIN, "pod": POD, **fields}


def session() -> list[dict]:
    """A pod's day as HANDSET's history records it. The program starts at 05:30 local time."""
    return [
        # an earlier pod, deactivated: its clock started at its own pairing
        {"id": 0, "at": "y", "kind": "reading", "pod_ms": 5 * MIN, "pod": "0badbeef", "pulses_delivered": 1},
        {"id": 1, "at": "x", "kind": "command", "command": "bolus", "pod_ms": None, "status": "unconfirmed"},
        rec(2, "basal", 0, rates_pph=PROGRAM, program="day", how="activation", time_of_day_ms=(5 * 60 + 30) * MIN),
        rec(3, "reading", 1, pulses_delivered=62, reservoir=None),
        rec(4, "bolus", 40, ref=40, immediate_pulses=40, extended_pulses=0, extended_half_hours=0),
        rec(5, "bolus_delivered", 41, ref=40, delivered_pulses=25, final=True, how="cancelled"),
        rec(6, "temp_basal", 60, ref=6, rate_pph=10, half_hours=4),            # 0.5 U/h for 2 h from 06:30
        rec(7, "command", 70, command="bolus", status="unconfirmed"),          # refused below: no bolus record
        rec(8, "settle", 70, settles=7, status="rejected"),
        rec(9, "suspend", 150),                                                # 08:00
        rec(10, "temp_basal_end", 150, ref=6, how="suspended"),
        rec(11, "basal", 180, rates_pph=PROGRAM, program="day", how="resume", time_of_day_ms=(8 * 60 + 30) * MIN),
        rec(12, "bolus", 200, ref=12, immediate_pulses=20, extended_pulses=20, extended_half_hours=2),
        rec(13, "bolus_delivered", 260, ref=12, delivered_pulses=40, final=True, how="done"),
        rec(14, "reading", 300, pulses_delivered=180, reservoir=None),
    ]


def test_rates_follow_program_temp_and_suspension_on_pod_time():
    p = plot.from_history(session())
    assert p.pod == POD and (p.start_ms, p.end_ms) == (0, 300 * MIN)
    # Program: 0.8 U/h (16 pph) until 06:00 local = pod minute 30, then 1.2 U/h (24).
    assert p.scheduled == [(0, 16), (30 * MIN, 24)]
    # Delivered: the temp basal replaces it from minute 60; the suspension (minute 150) ends the temp
    # early and stops everything; resumed at 180.
    assert p.delivered == [(0, 16), (30 * MIN, 24), (60 * MIN, 10), (150 * MIN, 0), (180 * MIN, 24)]
    assert p.suspensions == [(150 * MIN, 180 * MIN)]


def test_boluses_carry_the_pods_account_and_refusals_are_left_out():
    p = plot.from_history(session())
    assert [(m.pod_ms, m.requested, m.delivered, m.how) for m in p.boluses] == [
        (40 * MIN, 40, 25, "cancelled"), (200 * MIN, 40, 40, "done")]
    # The extended part: after 20 immediate pulses (2 s each), one hour.
    assert p.boluses[1].extended_end_ms == 200 * MIN + 40_000 + HOUR
    assert plot.bolus_label(p.boluses[0]) == "1.25 of 2.00 U (cancelled)"
    assert plot.bolus_label(p.boluses[1]) == "2.00 U"
    whole = plot.BolusMark(0, 20, 0, 20, "cancelled", None)  # stopped after its last pulse: delivered whole
    assert plot.bolus_label(whole) == "1.00 U"
    assert plot.bolus_label(plot.BolusMark(0, 20, 0, 0, "unaccounted", None)) == \
        "1.00 U asked (no account from the pod yet)"
    assert p.totals == [(MIN, 62), (300 * MIN, 180)]  # the pod's own counter; the other pod is not mixed in
    assert plot.from_history(session(), pod="0badbeef").totals == [(5 * MIN, 1)]


def test_an_extended_bolus_cancelled_early_ends_its_span_there():
    records = [r for r in session() if r["id"] <= 12] + [rec(13, "bolus_delivered", 230, ref=12, delivered_pulses=30, final=True,
                                    how="cancelled")]
    mark = plot.from_history(records).boluses[1]
    assert mark.extended_end_ms == 230 * MIN and plot.bolus_label(mark) == "1.50 of 2.00 U (cancelled)"
    assert plot.extended_label(mark) == "extended 1.00 U over 1h, stopped after 30m"
    assert plot.extended_label(plot.from_history(session()).boluses[1]) == "extended 1.00 U over 1h"


def test_plot_file_gets_png_when_it_has_no_suffix(tmp_path: Path):
    assert plot.output_path(tmp_path / "history") == tmp_path / "history.png"
    assert plot.output_path(tmp_path / "h.svg") == tmp_path / "h.svg"
    with pytest.raises(InvalidInput, match="name it .png, .svg or .pdf"):
        plot.output_path(tmp_path / "h.jpgx")
    with pytest.raises(InvalidInput, match="no delivery on a pod's clock"):
        plot.render(plot.DeliveryPlot(), tmp_path / "empty")


def test_render_writes_the_png(tmp_path: Path):
    path = plot.plot_history(session(), tmp_path / "history")
    assert path == tmp_path / "history.png"
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (1100, 650)  # the IHDR chunk: 11 x 6.5 in at 100 dpi


# --- drawn from a real firmware session --------------------------------------------------------------

FLAT = units.parse_basal_program("00:00=1.0")  # the same at every time of day: the test runs at any hour


def test_a_real_firmware_session_plots_what_the_pod_delivered(firmware_tcp, tmp_path: Path):
    """The real firmware on its virtual clock, driven by the handset library: every mark on the
    plot is checked against what the pod itself reports."""
    from handset.errors import HandsetError
    from handset.pod import PodClient

    client = PodClient.open(firmware_tcp.url, tmp_path / "hs", reply_timeout_s=5.0)
    client.wait_ms = lambda ms: client.bench("advance", ms=ms)
    advance = client.wait_ms
    try:
        client.activate(FLAT, low_reservoir_units=20, expiry_reminder_hours=1)
        advance(20 * MIN)
        client.temp_basal(rate_pph=10, half_hours=2)
        advance(15 * MIN)
        client.bolus(pulses=30)                             # 1.50 U
        advance(2 * MIN)
        client.bolus(0, extended_pulses=20, extended_half_hours=2)
        advance(10 * MIN)
        with pytest.raises(HandsetError):                   # refused: an extended bolus is running
            client.bolus(pulses=20)
        advance(10 * MIN)
        client.cancel_bolus()                               # the extended part stops early
        advance(15 * MIN)
        client.suspend()
        advance(30 * MIN)
        client.resume()
        advance(30 * MIN)
        final = client.status()
        records = client.store.history()
    finally:
        client.close()

    p = plot.from_history(records)
    # On the pod's clock (minutes since pairing, from its statuses), never the host's.
    statuses = {r["pod_ms"]: r["status_after"] for r in records if r.get("kind") == "settle" and r.get("status_after")}
    assert max(statuses) <= p.end_ms <= final.minutes * MIN
    assert all(ms == status["minutes"] * MIN for ms, status in statuses.items())
    # Two boluses, as the pod delivered them; the refused one is not there.
    assert [(m.requested, m.how) for m in p.boluses] == [(30, "done"), (20, "cancelled")]
    assert p.boluses[0].delivered == 30
    # The cancelled extended bolus: 20 pulses less what the pod said was not delivered when cancelled.
    cancel = next(r["id"] for r in records if r.get("kind") == "command" and r.get("command") == "cancel_bolus")
    not_delivered = next(r["status_after"]["bolus_remaining"] for r in records if r.get("settles") == cancel)
    assert p.boluses[1].delivered == 20 - not_delivered and 0 < not_delivered < 20
    assert p.boluses[1].extended_end_ms is not None
    assert p.boluses[1].extended_end_ms < p.boluses[1].pod_ms + HOUR   # cut short by the cancel
    # Basal: 1 U/h, the temp 0.5 U/h, nothing while suspended (the temp ends with it), 1 U/h again.
    assert [rate for _, rate in p.delivered] == [20, 10, 0, 20]
    assert [rate for _, rate in p.scheduled] == [20]
    assert len(p.suspensions) == 1
    start, end = p.suspensions[0]
    assert end - start == 30 * MIN
    # The pod's own count of insulin delivered, from its statuses: rising, never past the last status.
    assert [count for _, count in p.totals] == sorted(count for _, count in p.totals)
    assert p.totals[-1][1] <= final.pulses_delivered
    assert p.totals[-1] == (max(statuses), statuses[max(statuses)]["pulses_delivered"]) or \
        p.totals[-1][0] > max(statuses)  # a status read after the last command
    path = plot.plot_history(records, tmp_path / "session")
    assert path.suffix == ".png" and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_time_axis_reads_hours_and_minutes_of_pod_time():
    assert [plot._clock(h) for h in (0, 0.05, 1.5, 26.25)] == ["0:00", "0:03", "1:30", "26:15"]
    assert plot._clock(-0.05) == ""  # the margin before pairing has no pod time

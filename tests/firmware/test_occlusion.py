"""Occlusion detector (firmware/pod/occlusion.py): thresholds and time to alarm against the labeling."""
from __future__ import annotations

import heapq
import json

import pytest


from pod.occlusion import DEFAULT_THRESHOLD, OcclusionDetector

SECOND = 1000
HOUR = 3600 * SECOND
POD_END_OF_SERVICE = 80 * HOUR  # fault 0x1C stops the pod here whatever else happens


def basal_times(pulses_per_hour: int, until_ms: int):
    """Evenly spaced basal pulses, the first one interval after the line blocked at t = 0."""
    interval = HOUR // pulses_per_hour
    return range(interval, until_ms + 1, interval)


def bolus_times(pulses: int, interval_ms: int = 2 * SECOND):
    return range(interval_ms, (pulses + 1) * interval_ms, interval_ms)


def time_to_alarm(det: OcclusionDetector, times) -> int | None:
    """Feed failed pulses at the given times; the time of the one that raised the alarm."""
    for t in times:
        if det.on_pulse(False):
            return t
    return None


def test_default_is_3_units() -> None:
    assert DEFAULT_THRESHOLD == 60 and OcclusionDetector().threshold == 60


@pytest.mark.parametrize("threshold", [60, 61, 79, 80, 99, 100])
def test_alarm_exactly_at_threshold_and_latched(threshold: int) -> None:
    det = OcclusionDetector(threshold)
    for n in range(1, threshold):
        assert det.on_pulse(False) is False, f"alarm too early at {n} missed pulses"
    assert det.on_pulse(False) is True
    assert det.missed == threshold
    assert det.on_pulse(True) is True  # latched: a later good pulse does not clear it
    det.reset()
    assert det.on_pulse(True) is False and det.missed == 0


def test_a_pulse_that_goes_through_restarts_the_count() -> None:
    det = OcclusionDetector()
    for _ in range(59):
        det.on_pulse(False)
    assert det.on_pulse(True) is False and det.missed == 0
    for _ in range(59):
        assert det.on_pulse(False) is False
    assert det.on_pulse(False) is True


@pytest.mark.parametrize("bad", [59, 101, 0, -60, "60", 60.0, None])
def test_threshold_outside_3_to_5_units_is_refused(bad) -> None:
    with pytest.raises(ValueError, match="60..100"):
        OcclusionDetector(bad)
    det = OcclusionDetector(80)
    with pytest.raises(ValueError):
        det.set_threshold(bad)
    assert det.threshold == 80


@pytest.mark.parametrize("threshold", range(60, 101, 5))
def test_time_to_alarm_meets_the_published_maximums(threshold: int) -> None:
    # 5 U bolus (100 pulses at 2 s) with 1 U/h basal running underneath, label maximum 35 min.
    both = heapq.merge(bolus_times(100), basal_times(20, HOUR))
    t = time_to_alarm(OcclusionDetector(threshold), both)
    assert t is not None and t <= 35 * 60 * SECOND
    assert t <= threshold * 2 * SECOND  # never later than the bolus pulses alone would take

    # 1.00 U/h basal: 20 pulses/h, one every 180 s; label maximum 5.5 h.
    t = time_to_alarm(OcclusionDetector(threshold), basal_times(20, 6 * HOUR))
    assert t == threshold * 180 * SECOND
    assert t <= 5.5 * HOUR

    # 0.05 U/h basal: one pulse an hour; label maximum 80 h (= pod expiry).
    t = time_to_alarm(OcclusionDetector(threshold), basal_times(1, 120 * HOUR))
    assert t == threshold * HOUR
    if threshold <= 80:
        assert t <= POD_END_OF_SERVICE
    else:  # the 80 h end of service (fault 0x1C) alarms first: still within the label's maximum
        assert min(t, POD_END_OF_SERVICE) == POD_END_OF_SERVICE


def test_default_times_match_the_typical_labeling() -> None:
    assert time_to_alarm(OcclusionDetector(), basal_times(20, 6 * HOUR)) == 3 * HOUR  # label typical 3.0 h
    assert time_to_alarm(OcclusionDetector(), bolus_times(100)) == 120 * SECOND
    assert time_to_alarm(OcclusionDetector(), bolus_times(59)) is None  # a short bolus alone stays below 3 U


def test_state_round_trip() -> None:
    det = OcclusionDetector(70)
    for _ in range(42):
        det.on_pulse(False)
    again = OcclusionDetector.from_state(json.loads(json.dumps(det.to_state())))
    assert (again.threshold, again.missed, again.occluded) == (70, 42, False)
    for _ in range(27):
        assert again.on_pulse(False) is False
    assert again.on_pulse(False) is True
    assert OcclusionDetector.from_state(again.to_state()).occluded is True


@pytest.mark.parametrize("bad", [None, [], [60, 0], [50, 0, 0], [60, -1, 0], [60, "x", 0], "abc"])
def test_bad_state_is_refused(bad) -> None:
    with pytest.raises(ValueError):
        OcclusionDetector.from_state(bad)

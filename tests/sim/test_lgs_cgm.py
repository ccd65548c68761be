"""Low-glucose suspend and the CGM's trend, prediction and alerts (pure logic)."""
from __future__ import annotations

import pytest

from handset.errors import InvalidInput
from patient import cgm
from patient.lgs import MAX_SUSPEND_MIN, LowGlucoseSuspend


def readings(values: list[int | None], start: int = 0) -> list[cgm.Reading]:
    return [cgm.Reading(start + 5 * i, (start + 5 * i) * 60_000, v) for i, v in enumerate(values)]


def feed(lgs: LowGlucoseSuspend, values: list[int | None]) -> list[tuple[int, str]]:
    """Readings one by one, as the handset gets them; the (minute, action) of every decision."""
    history: list[cgm.Reading] = []
    actions = []
    for r in readings(values):
        history.append(r)
        d = lgs.on_reading(history, r.minute)
        if d.action:
            actions.append((r.minute, d.action))
    return actions


def test_threshold_suspends_at_the_threshold_and_resumes_after_two_hours() -> None:
    lows = [120, 100, 80, 71, 70] + [60] * 30
    assert feed(LowGlucoseSuspend("threshold"), lows) == [(20, "suspend"), (20 + MAX_SUSPEND_MIN, "resume")]


def test_threshold_does_not_suspend_again_on_the_same_low_until_glucose_recovers() -> None:
    values = [70] + [60] * 40 + [90] + [65]
    actions = feed(LowGlucoseSuspend("threshold"), values)
    assert actions == [(0, "suspend"), (120, "resume"), (210, "suspend")]


def test_predictive_suspends_before_the_threshold_and_resumes_when_the_prediction_recovers() -> None:
    falling = [160, 150, 140, 130, 120, 110]  # -2 mg/dL/min: at 130 (minute 15) 70 is 30 min away
    rising = [112, 115, 125, 135, 145, 155, 165]
    actions = feed(LowGlucoseSuspend("predictive"), falling + rising)
    assert actions[0] == (15, "suspend")
    assert actions[1][1] == "resume" and actions[1][0] - 15 >= 30
    assert feed(LowGlucoseSuspend("threshold"), falling + rising) == []


def test_a_sensor_gap_neither_suspends_nor_resumes() -> None:
    assert feed(LowGlucoseSuspend("threshold"), [None, None, 100]) == []


def test_the_user_can_end_a_suspension() -> None:
    lgs = LowGlucoseSuspend("threshold")
    assert feed(lgs, [65]) == [(0, "suspend")]
    assert lgs.user_resume() is True and lgs.suspended_at is None
    assert lgs.user_resume() is False


@pytest.mark.parametrize("threshold", [40, 200])
def test_impossible_thresholds_are_refused_with_a_sentence(threshold: int) -> None:
    with pytest.raises(InvalidInput, match="not possible: choose 50–90 mg/dL"):
        LowGlucoseSuspend("threshold", threshold)


def test_trend_arrows_and_prediction_follow_the_slope() -> None:
    steady = readings([100, 101, 100, 99])
    assert cgm.arrow(cgm.rate_tenths(steady)) == "→"
    falling = readings([150, 135, 120, 105])  # -3 mg/dL/min
    assert cgm.rate_tenths(falling) == -30 and cgm.arrow(-30) == "↓" and cgm.arrow(-31) == "⇊"
    assert cgm.arrow(30) == "⇈" and cgm.arrow(15) == "↗"
    assert cgm.predicted(falling, 30) == 15
    assert cgm.rate_tenths(readings([100, None, 90, 80])) is None  # a gap leaves the trend unknown
    assert cgm.arrow(None) == ""


def test_alerts_are_raised_once_per_excursion() -> None:
    from patient.model import VirtualPatient
    patient = VirtualPatient("adolescent#001", 1)
    sensor = cgm.Cgm(seed=3, low=200, high=260)  # the patient sits near 150: below "low" here
    out = []
    for minute in range(5, 30, 5):
        for _ in range(5):
            patient.step_minute(0, 0)
        out.append(sensor.read(patient.model, minute, minute * 60_000, out=minute == 15))
    assert [r.alert for r in out] == ["low", "", "", "low", ""]  # the gap ends the excursion
    assert out[2].mgdl is None and out[2].trend == ""


def test_the_sensor_is_seeded() -> None:
    from patient.model import VirtualPatient

    def run(seed: int) -> list[int | None]:
        patient = VirtualPatient("adult#001", 1)
        sensor = cgm.Cgm(seed)
        values = []
        for minute in range(5, 60, 5):
            for _ in range(5):
                patient.step_minute(0, 0)
            values.append(sensor.read(patient.model, minute, 0, False).mgdl)
        return values
    assert run(7) == run(7) != run(8)


def test_status_and_calculator_see_only_a_fresh_reading(tmp_path) -> None:
    log = readings([120, 110, None], start=5)  # minutes 5, 10, 15 (a gap at 15)
    cgm.write_log(tmp_path, log)
    assert cgm.read_log(tmp_path) == log
    assert cgm.fresh_reading(tmp_path, 10 * 60_000 + 299_000) == log[1]
    assert cgm.fresh_reading(tmp_path, 10 * 60_000 + 301_000) is None  # older than 5 minutes
    assert cgm.status_item(tmp_path, 12 * 60_000, "mg/dL") == ("CGM", "110 mg/dL, 2 min ago (pod time); sensor out now")
    assert cgm.status_item(tmp_path / "none", None, "mg/dL") is None


def test_a_damaged_cgm_log_gets_a_sentence(tmp_path) -> None:
    from handset.errors import StateError
    (tmp_path / cgm.LOG_NAME).write_text('{"minute": 5, "pod_ms": 1, "mgdl": 100}\n{"minute": ', encoding="utf-8")
    with pytest.raises(StateError, match="damaged at line 2"):
        cgm.read_log(tmp_path)
